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
        if (Missing.Count > 0)
            parts.Add($"missing keys: {string.Join(", ", Missing)}");
        if (Unexpected.Count > 0)
            parts.Add($"unexpected keys: {string.Join(", ", Unexpected)}");
        if (MisShaped.Count > 0)
            parts.Add($"mis-shaped keys: {string.Join("; ", MisShaped)}");
        if (MisShaped.Any(m => m.Key.Contains("pos_embed", StringComparison.Ordinal) || m.Key.Contains("relative_position", StringComparison.Ordinal)))
            parts.Add("position embeddings are sized for one image size: use the image size the checkpoint was trained at (often 224)");
        if (WrapperPrefix is { } prefix)
            parts.Add($"every key of the file starts with '{prefix}' (saved from a training wrapper such as DataParallel): " +
                      $"save the state dict without that prefix, e.g. {{k.removeprefix('{prefix}'): v for k, v in state.items()}}");
        return parts.Count == 0 ? "state dicts match" : string.Join(Environment.NewLine, parts);
    }

    /// <summary>The prefix ("module." or "model.") that every unexpected key carries and without which they are the
    /// missing keys: a checkpoint saved from a wrapper. Otherwise null.</summary>
    public string? WrapperPrefix => new[] { "module.", "model." }.FirstOrDefault(prefix =>
        Unexpected.Count > 0 && Unexpected.All(k => k.StartsWith(prefix, StringComparison.Ordinal))
        && Missing.Intersect(Unexpected.Select(k => k[prefix.Length..])).Count() * 2 >= Missing.Count);
}
