#!/usr/bin/env bash
# Load test of the web API on this machine: starts it on 127.0.0.1 (a free port) with a model zip, posts one image
# from CLIENTS concurrent clients for SECONDS, and prints errors, p50/p99 latency, requests/s and the server's RSS
# before and after. Traffic goes to loopback only, and the run stops by itself.
#   usage: samples/ScaleKD.WebApi/load.sh MODEL_ZIP IMAGE [SECONDS=60] [CLIENTS=32]
set -euo pipefail
if [[ $# -lt 2 ]]; then
    sed -n 's/^#   usage: //p' "$0" >&2
    exit 2
fi
model=$(realpath "$1")
image=$(realpath "$2")
seconds=${3:-60}
clients=${4:-32}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

log=$(mktemp)
quietly() { "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }; }
# The build tool that ScaleKD.MLNet's build runs is not a project reference, so a lone project build needs it restored.
quietly dotnet restore "$root/build/ScaleKD.Build"
quietly dotnet build "$here/ScaleKD.WebApi.csproj" -c Release
quietly dotnet build "$root/samples/ScaleKD.LoadTest/ScaleKD.LoadTest.csproj" -c Release

# Port 0: Kestrel picks a free port and logs it. Run from the output folder, whose appsettings.json keeps
# per-request logging off.
# env execs dotnet in place, so $! is the server's own PID.
env --chdir="$here/bin/Release/net10.0" ScaleKD__ModelPath="$model" ASPNETCORE_URLS="http://127.0.0.1:0" \
    dotnet ScaleKD.WebApi.dll >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT

url=""
for _ in $(seq 1 300); do
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$log" | head -n 1 || true)
    [[ -n $url ]] && break
    if ! kill -0 "$server" 2>/dev/null; then
        echo "the server stopped during start-up:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
[[ -n $url ]] || { echo "the server did not start in 30 s:" >&2; cat "$log" >&2; exit 1; }

rss() { awk '/^VmRSS/ { printf "%.0f MB", $2 / 1024 }' "/proc/$server/status"; }
echo "server: $url, $(curl -s "$url/health" 2>/dev/null || echo 'health: (curl missing)')"
echo "server RSS before: $(rss)"
# A soak shows whether memory settles: the server's RSS once a minute while the load runs.
( for minute in $(seq 1 $(( seconds / 60 ))); do sleep 60; echo "server RSS at minute $minute: $(rss)"; done ) &
sampler=$!
status=0
dotnet "$root/samples/ScaleKD.LoadTest/bin/Release/net10.0/ScaleKD.LoadTest.dll" "$url" "$image" "$clients" "$seconds" || status=$?
kill "$sampler" 2>/dev/null || true
echo "server RSS after: $(rss)"
if grep -qE '^(fail|crit):' "$log"; then
    echo "server errors logged:" >&2
    grep -A5 -E '^(fail|crit):' "$log" >&2
    status=1
fi
exit $status
