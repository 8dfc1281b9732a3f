using Microsoft.ML;
using Microsoft.ML.Data;

namespace ScaleKD.MLNet;

/// <summary>Row-to-row view of a <see cref="ScaleKDTransformer"/>, which is what <c>PredictionEngine</c> uses.</summary>
sealed class ScoringRowMapper(DataViewSchema inputSchema, DataViewSchema outputSchema, ScaleKDTransformer transformer) : IRowToRowMapper
{
    public DataViewSchema InputSchema { get; } = inputSchema;
    public DataViewSchema OutputSchema { get; } = outputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns) =>
        ScoringRow.InputColumnsNeeded(InputSchema, dependingColumns, transformer, includeImage: true);

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new ScoringRow(input, ownsInput: false, lookahead: null, OutputSchema, activeColumns, transformer);
}
