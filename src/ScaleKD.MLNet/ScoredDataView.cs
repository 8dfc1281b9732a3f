using Microsoft.ML;

namespace ScaleKD.MLNet;

/// <summary>The lazily, batch-wise scored output of <see cref="ScaleKDTransformer.Transform"/>.</summary>
sealed class ScoredDataView(IDataView input, DataViewSchema schema, ScaleKDTransformer transformer) : IDataView
{
    public bool CanShuffle => input.CanShuffle;
    public DataViewSchema Schema { get; } = schema;
    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var active = columnsNeeded.ToList();
        var scored = active.Any(c => c.Name == transformer.ScoreColumnName || c.Name == transformer.PredictedLabelColumnName);
        // Batching reads images with a second cursor in the same order; a shuffled cursor's order cannot be repeated,
        // so shuffled reads score row by row.
        var batched = scored && rand is null;
        var cursor = input.GetRowCursor(ScoringRow.InputColumnsNeeded(input.Schema, active, transformer, includeImage: !batched), rand);
        var lookahead = batched ? input.GetRowCursor([input.Schema[transformer.ImageColumnName]]) : null;
        return new ScoringRow(cursor, ownsInput: true, lookahead, Schema, active, transformer);
    }

    // The student is shared by all cursors; one cursor keeps its batches large and native use single-threaded.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];
}
