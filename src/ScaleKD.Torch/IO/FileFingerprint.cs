using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ScaleKD.Torch.IO;

/// <summary>
/// A short hash of files' paths, sizes and modification times: what a cache key needs so that a cached teacher is not
/// reused after its data changed in place (same folder, same class names, new images). Only metadata is read, so a
/// data set of tens of thousands of files takes a fraction of a second.
/// </summary>
public static class FileFingerprint
{
    /// <summary>The fingerprint of <paramref name="paths"/>, in their order; a missing file counts as size −1.</summary>
    public static string Of(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in paths)
        {
            var file = new FileInfo(path);
            var line = string.Create(CultureInfo.InvariantCulture,
                $"{Path.GetFullPath(path)}\t{(file.Exists ? file.Length : -1)}\t{(file.Exists ? file.LastWriteTimeUtc.Ticks : 0)}\n");
            hash.AppendData(Encoding.UTF8.GetBytes(line));
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
    }
}
