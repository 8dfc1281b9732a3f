#!/usr/bin/env bash
# The consumer test (run by .ci/run): packs this repository, then builds an application outside it as a new user
# would (tests/PackageConsumer: ScaleKD.MLNet + TorchSharp-cpu, nothing else), and checks that it fits, saves, loads in
# a second process and scores identically, once from `dotnet build` output and once from `dotnet publish` output.
#
# The application lives in a temporary folder, so no Directory.Build.* of ours applies, and restores into an empty
# NuGet package folder and HTTP cache, so nothing that a build of this repository patched or cached can be reused:
# the GLIBCXX step must come from the package's buildTransitive targets, or TorchSharp fails to start on Debian 12.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
data="${SCALEKD_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
start=$SECONDS
step() { echo "consumer-test: [$((SECONDS - start)) s] $*"; }
fail() { echo "consumer-test: FAILED: $*" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/scalekd-consumer-XXXXXX")"
trap 'rm -rf "$work"' EXIT
case "$work/" in "$repo"/*) fail "the temporary folder $work is inside the repository" ;; esac
for dir in "$work" $(d="$work"; while [ "$d" != / ]; do d="$(dirname "$d")"; echo "$d"; done); do
  for file in Directory.Build.props Directory.Build.targets Directory.Packages.props; do
    [ ! -e "$dir/$file" ] || fail "$dir/$file would apply to the consumer application"
  done
done

step "packing ScaleKD.MLNet.sln into $work/feed"
dotnet pack "$repo/ScaleKD.MLNet.sln" -c Release -o "$work/feed" -v q -nologo >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; fail "dotnet pack"; }
packages="$(cd "$work/feed" && ls ./*.nupkg | sed 's|^\./||' | sort | tr '\n' ' ')"
version="$(ls "$work/feed" | sed -n 's/^ScaleKD\.MLNet\.\(.*\)\.nupkg$/\1/p')"
[ "$packages" = "ScaleKD.MLNet.$version.nupkg ScaleKD.Torch.$version.nupkg " ] || fail "expected the two packages, got: $packages"
for id in ScaleKD.Torch ScaleKD.MLNet; do
  [ -f "$work/feed/$id.$version.snupkg" ] || fail "$id has no symbol package"
  nuspec="$(unzip -p "$work/feed/$id.$version.nupkg" "$id.nuspec")"
  for field in "<description>ScaleKD" "<license type=\"expression\">" "<readme>README.md</readme>" "<tags>" \
               "commit=\"$(git -C "$repo" rev-parse HEAD)\""; do
    grep -qF "$field" <<<"$nuspec" || fail "$id.nuspec lacks $field"
  done
  listing="$(unzip -l "$work/feed/$id.$version.nupkg")"
  for file in README.md "lib/net10.0/$id.dll" "lib/net10.0/$id.xml"; do
    grep -qF " $file" <<<"$listing" || fail "$id.$version.nupkg lacks $file"
  done
done
listing="$(unzip -l "$work/feed/ScaleKD.Torch.$version.nupkg")"
for file in buildTransitive/ScaleKD.Torch.targets tools/native-patch/ScaleKD.NativePatch.dll; do
  grep -qF " $file" <<<"$listing" || fail "ScaleKD.Torch.$version.nupkg lacks $file"
done
step "packages $version: $(cd "$work/feed" && du -k ./*.nupkg ./*.snupkg | awk '{printf "%s %s KB; ", $2, $1}' | sed 's|\./||g')"

cp -r "$repo/tests/PackageConsumer" "$work/app"
cat >"$work/app/NuGet.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="scalekd" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
</configuration>
CONFIG
export NUGET_PACKAGES="$work/packages" NUGET_HTTP_CACHE_PATH="$work/http-cache"
build=(-c Release -p:ScaleKDVersion="$version" --disable-build-servers -nologo)

step "restoring the application into an empty package folder"
dotnet restore "$work/app" -p:ScaleKDVersion="$version" --disable-build-servers >"$work/restore.log" 2>&1 || { cat "$work/restore.log"; fail "dotnet restore"; }
step "dotnet build"
dotnet build "$work/app" "${build[@]}" --no-restore >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "dotnet build"; }
step "dotnet publish"
dotnet publish "$work/app" "${build[@]}" --no-restore -o "$work/publish" >"$work/publish.log" 2>&1 || { cat "$work/publish.log"; fail "dotnet publish"; }

# The step must have marked the need weak in each output copy (one bit) where this system lacks GLIBCXX_3.4.32, and
# left the NuGet cache's copy as the package holds it.
cached="$NUGET_PACKAGES/torchsharp/0.107.0/runtimes/linux-x64/native/libLibTorchSharp.so"
unzip -p "$NUGET_PACKAGES/torchsharp/0.107.0/torchsharp.0.107.0.nupkg" runtimes/linux-x64/native/libLibTorchSharp.so | cmp -s - "$cached" \
  || fail "the NuGet cache's libLibTorchSharp.so differs from the package's"
expected=1
for lib in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6; do
  if [ -e "$lib" ]; then
    if grep -qa "GLIBCXX_3\.4\.32" "$lib"; then expected=0; fi
    break
  fi
done
for output in "$work/app/bin/Release/net10.0" "$work/publish"; do
  changed="$(cmp -l "$cached" "$output/runtimes/linux-x64/native/libLibTorchSharp.so" | wc -l || true)"
  [ "$changed" -eq "$expected" ] || fail "$output's libLibTorchSharp.so differs from the package's in $changed bytes; expected $expected"
done

for run in "build:$work/app/bin/Release/net10.0" "publish:$work/publish"; do
  name="${run%%:*}" output="${run#*:}"
  mkdir -p "$work/run-$name"
  step "fit, save and score from $name output"
  dotnet "$output/PackageConsumer.dll" fit "$data" "$work/run-$name" || fail "fit from $name output"
  step "load and score in a second process from $name output"
  dotnet "$output/PackageConsumer.dll" score "$work/run-$name" || fail "score from $name output"
  cmp -s "$work/run-$name/scores-fit.txt" "$work/run-$name/scores-load.txt" \
    || fail "the loaded model's scores differ from the fitted model's ($name output)"
done
step "passed: the packed ScaleKD.MLNet fits, saves, loads and scores identically from build and publish output"
