using Microsoft.ML;
using Microsoft.ML.Data;

namespace ScaleKD.MLNet;

/// <summary>
/// An input row (or cursor) with the score column appended. Input columns pass through; the score is computed once
/// per row position, when first asked for.
/// </summary>
/// <remarks>It derives from <see cref="DataViewRowCursor"/> so one type serves both <c>Transform</c> (over an input
/// cursor) and <c>PredictionEngine</c> (over a single input row, where <see cref="MoveNext"/> is never called).</remarks>
sealed class ScoredRow : DataViewRowCursor
{
    readonly DataViewRow _input;
    readonly bool _ownsInput;
    readonly ScaleKDTransformer _transformer;
    readonly int _scoreIndex;
    readonly bool[] _active;
    readonly ValueGetter<VBuffer<float>>? _featuresGetter;
    VBuffer<float> _features;
    VBuffer<float> _scores;
    long _scoredPosition = -1;

    /// <param name="ownsInput">True for a cursor made by this transform, which then disposes it; false for a row
    /// lent by a caller of <see cref="IRowToRowMapper.GetRow"/>.</param>
    public ScoredRow(DataViewRow input, bool ownsInput, DataViewSchema outputSchema, IEnumerable<DataViewSchema.Column> activeColumns, ScaleKDTransformer transformer)
    {
        _input = input;
        _ownsInput = ownsInput;
        _transformer = transformer;
        Schema = outputSchema;
        _scoreIndex = outputSchema.Count - 1;
        _active = new bool[outputSchema.Count];
        foreach (var column in activeColumns)
            _active[column.Index] = true;
        if (_active[_scoreIndex])
            _featuresGetter = input.GetGetter<VBuffer<float>>(input.Schema[transformer.InputColumnIndex(input.Schema)]);
    }

    /// <summary>The input columns needed to produce <paramref name="outputColumns"/>.</summary>
    public static IEnumerable<DataViewSchema.Column> InputColumnsNeeded(DataViewSchema inputSchema, DataViewSchema outputSchema,
        IEnumerable<DataViewSchema.Column> outputColumns, ScaleKDTransformer transformer)
    {
        var scoreIndex = outputSchema.Count - 1;
        var needed = outputColumns.Where(c => c.Index != scoreIndex).Select(c => inputSchema[c.Index]).ToList();
        if (outputColumns.Any(c => c.Index == scoreIndex))
            needed.Add(inputSchema[transformer.InputColumnIndex(inputSchema)]);
        return needed.DistinctBy(c => c.Index);
    }

    public override DataViewSchema Schema { get; }
    public override long Position => _input.Position;
    public override long Batch => _input.Batch;
    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
    public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];
    public override bool MoveNext() => ((DataViewRowCursor)_input).MoveNext();

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (!_active[column.Index])
            throw new InvalidOperationException($"Column '{column.Name}' was not requested as active.");
        if (column.Index != _scoreIndex)
            return _input.GetGetter<TValue>(_input.Schema[column.Index]);
        if (typeof(TValue) != typeof(VBuffer<float>))
            throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}.");
        ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> value) =>
        {
            if (_scoredPosition != _input.Position)
            {
                _featuresGetter!(ref _features);
                _transformer.Score(in _features, ref _scores);
                _scoredPosition = _input.Position;
            }
            _scores.CopyTo(ref value);
        };
        return (ValueGetter<TValue>)(Delegate)getter;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsInput)
            _input.Dispose();
        base.Dispose(disposing);
    }
}
