namespace ScaleKD.Torch.Weights;

/// <summary>A tensor whose stored shape differs from the model's.</summary>
public sealed record ShapeMismatch(string Key, long[] Expected, long[] Found)
{
    /// <inheritdoc />
    public override string ToString() => $"{Key}: model ({string.Join(", ", Expected)}), file ({string.Join(", ", Found)})";
}

/// <summary>How a stored state dict differs from a model's: the report behind strict loading and import checks.</summary>
public sealed record StateDictMismatch(IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<ShapeMismatch> MisShaped)
{
    /// <summary>True when every key is present, expected and of the right shape.</summary>
    public bool IsEmpty => Missing.Count == 0 && Unexpected.Count == 0 && MisShaped.Count == 0;

    /// <summary>One line per problem kind, naming the keys.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        var prefix = WrapperPrefix;
        // With a wrapper's prefix every key shows up twice (missing, and unexpected with the prefix); only the keys that
        // still differ once it is removed say anything.
        var missing = prefix is null ? Missing : Missing.Except(Unexpected.Select(k => k[prefix.Length..])).ToList();
        var unexpected = prefix is null ? Unexpected : Unexpected.Where(k => !Missing.Contains(k[prefix.Length..])).ToList();
        if (prefix is not null)
            parts.Add($"every key of the file starts with '{prefix}' (saved from a training wrapper such as DataParallel): " +
                      $"save the state dict without that prefix, e.g. {{k.removeprefix('{prefix}'): v for k, v in state.items()}}" +
                      (missing.Count + unexpected.Count == 0 ? "; without it, every key matches by name" : "; without it, these keys still differ:"));
        if (missing.Count > 0)
            parts.Add($"missing keys: {string.Join(", ", missing)}");
        if (unexpected.Count > 0)
            parts.Add($"unexpected keys: {string.Join(", ", unexpected)}");
        if (MisShaped.Count > 0)
            parts.Add($"mis-shaped keys: {string.Join("; ", MisShaped)}");
        if (MisShaped.Any(m => m.Key.Contains("pos_embed", StringComparison.Ordinal) || m.Key.Contains("relative_position", StringComparison.Ordinal)))
            parts.Add("position embeddings are sized for one image size: use the image size the checkpoint was trained at (often 224)");
        return parts.Count == 0 ? "state dicts match" : string.Join(Environment.NewLine, parts);
    }

    /// <summary>The prefix ("module." or "model.") that every unexpected key carries and without which they are the
    /// missing keys: a checkpoint saved from a wrapper. Otherwise null.</summary>
    public string? WrapperPrefix => new[] { "module.", "model." }.FirstOrDefault(prefix =>
        Unexpected.Count > 0 && Unexpected.All(k => k.StartsWith(prefix, StringComparison.Ordinal))
        && Missing.Intersect(Unexpected.Select(k => k[prefix.Length..])).Count() * 2 >= Missing.Count);
}
