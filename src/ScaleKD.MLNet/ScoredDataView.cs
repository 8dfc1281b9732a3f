using Microsoft.ML;

namespace ScaleKD.MLNet;

/// <summary>The lazily scored output of <see cref="ScaleKDTransformer.Transform"/>.</summary>
sealed class ScoredDataView(IDataView input, DataViewSchema schema, ScaleKDTransformer transformer) : IDataView
{
    public bool CanShuffle => input.CanShuffle;
    public DataViewSchema Schema { get; } = schema;
    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var active = columnsNeeded.ToList();
        var cursor = input.GetRowCursor(ScoredRow.InputColumnsNeeded(input.Schema, Schema, active, transformer), rand);
        return new ScoredRow(cursor, ownsInput: true, Schema, active, transformer);
    }

    // The model is shared by all cursors; one cursor keeps native use single-threaded.
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];
}
