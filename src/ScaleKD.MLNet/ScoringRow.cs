using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace ScaleKD.MLNet;

/// <summary>
/// An input row or cursor with <c>Score</c> and <c>PredictedLabel</c> appended. Under <c>Transform</c> the images are
/// read by a second cursor over the same input, a batch ahead, and scored in one forward pass per batch; the next
/// batch is read and decoded on a worker thread while the current one runs through the student. Under
/// <c>PredictionEngine</c> (a single lent row, no second cursor) each row is scored on its own.
/// </summary>
sealed class ScoringRow : DataViewRowCursor
{
    readonly DataViewRow _input;
    readonly bool _ownsInput;
    readonly DataViewRowCursor? _lookahead;
    readonly Func<long, Tensor>? _readLookahead;
    readonly Func<long, Tensor>? _readInput;
    readonly ScaleKDTransformer _transformer;
    readonly int _scoreIndex;
    readonly int _predictedIndex;
    readonly bool[] _active;
    float[][] _scores = [];
    long _batchStart = -1;
    // The next batch (its first row and its images), being read by a worker while the current batch is scored.
    Task<(long Start, List<Tensor> Images)>? _nextBatch;

    /// <param name="lookahead">A second cursor over the same input, in the same order, for batched scoring; null
    /// scores row by row from <paramref name="input"/>.</param>
    /// <param name="ownsInput">Dispose <paramref name="input"/> with this row: true for cursors made by the transform.</param>
    public ScoringRow(DataViewRow input, bool ownsInput, DataViewRowCursor? lookahead, DataViewSchema outputSchema,
        IEnumerable<DataViewSchema.Column> activeColumns, ScaleKDTransformer transformer)
    {
        var image = ImageColumn.Find(input.Schema, transformer.ImageColumnName);
        _input = input;
        _ownsInput = ownsInput;
        _lookahead = lookahead;
        _transformer = transformer;
        Schema = outputSchema;
        _scoreIndex = outputSchema[transformer.ScoreColumnName].Index;
        _predictedIndex = outputSchema[transformer.PredictedLabelColumnName].Index;
        _active = new bool[outputSchema.Count];
        foreach (var column in activeColumns)
            _active[column.Index] = true;
        if (!_active[_scoreIndex] && !_active[_predictedIndex])
            return;
        if (lookahead is not null)
            _readLookahead = image.Reader(lookahead);
        else
            _readInput = image.Reader(input);
    }

    /// <summary>The input columns needed to produce <paramref name="outputColumns"/> (the image column for scores).</summary>
    public static IEnumerable<DataViewSchema.Column> InputColumnsNeeded(DataViewSchema inputSchema, IEnumerable<DataViewSchema.Column> outputColumns,
        ScaleKDTransformer transformer, bool includeImage)
    {
        var list = outputColumns.ToList();
        var scored = list.Any(c => c.Name == transformer.ScoreColumnName || c.Name == transformer.PredictedLabelColumnName);
        var needed = list.Where(c => c.Index < inputSchema.Count).Select(c => inputSchema[c.Index]).ToList();
        if (scored && includeImage)
            needed.Add(inputSchema[transformer.ImageColumnName]);
        return needed.DistinctBy(c => c.Index);
    }

    public override DataViewSchema Schema { get; }
    /// <summary>Read and decode the next batch on a worker while the student scores this one. Always on; false exists
    /// so that the inference benchmark can measure what it saves.</summary>
    internal static bool PrefetchNextBatch { get; set; } = true;

    public override long Position => _input.Position;
    public override long Batch => _input.Batch;
    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
    public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];
    public override bool MoveNext() => ((DataViewRowCursor)_input).MoveNext();

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (!_active[column.Index])
            throw new InvalidOperationException($"Column '{column.Name}' was not requested as active.");
        if (column.Index == _scoreIndex)
        {
            ValueGetter<VBuffer<float>> score = (ref VBuffer<float> value) =>
            {
                var row = Scores();
                var editor = VBufferEditor.Create(ref value, row.Length);
                row.CopyTo(editor.Values);
                value = editor.Commit();
            };
            return Cast<TValue>(score, column);
        }
        if (column.Index == _predictedIndex)
        {
            ValueGetter<uint> predicted = (ref uint value) =>
            {
                var row = Scores();
                var best = 0;
                for (var i = 1; i < row.Length; i++)
                    if (row[i] > row[best])
                        best = i;
                value = (uint)best + 1;
            };
            return Cast<TValue>(predicted, column);
        }
        return _input.GetGetter<TValue>(_input.Schema[column.Index]);
    }

    static ValueGetter<TValue> Cast<TValue>(Delegate getter, DataViewSchema.Column column) =>
        getter as ValueGetter<TValue>
        ?? throw new InvalidOperationException($"Column '{column.Name}' holds {column.Type.RawType.Name}, not {typeof(TValue).Name}.");

    /// <summary>The class probabilities of the current row, scoring a new batch when the row is not in the last one.</summary>
    float[] Scores()
    {
        var position = _input.Position;
        if (_batchStart >= 0 && position >= _batchStart && position < _batchStart + _scores.Length)
            return _scores[position - _batchStart];
        var images = _lookahead is null ? [_readInput!(position)] : LookaheadBatch(position);
        try
        {
            if (PrefetchNextBatch && _lookahead is not null && images.Count == _transformer.ScoringBatchSize)
                _nextBatch = Task.Run(ReadLookaheadBatch);
            _scores = _transformer.ScoreBatch(images);
            _batchStart = position;
            return _scores[0];
        }
        finally
        {
            foreach (var image in images)
                image.Dispose();
        }
    }

    /// <summary>The batch that starts at <paramref name="position"/>: the prefetched one when it starts there.</summary>
    List<Tensor> LookaheadBatch(long position)
    {
        if (TakeNextBatch() is { } next)
        {
            if (next.Start == position)
                return next.Images;
            next.Images.ForEach(image => image.Dispose());
        }
        // The second cursor skips the rows the consumer skipped, then reads a batch starting at this row.
        while (_lookahead!.Position < position - 1)
            if (!_lookahead.MoveNext())
                throw new InvalidOperationException("The batched scoring cursor ran out of rows before the main cursor.");
        var (start, images) = ReadLookaheadBatch();
        if (images.Count > 0 && start != position)
        {
            images.ForEach(image => image.Dispose());
            throw new InvalidOperationException($"The batched scoring cursor is at row {start}, the main cursor at {position}.");
        }
        return images;
    }

    /// <summary>Up to a batch of images from the second cursor's next rows, and the row the batch starts at.</summary>
    (long Start, List<Tensor> Images) ReadLookaheadBatch()
    {
        var images = new List<Tensor>();
        var start = -1L;
        try
        {
            while (images.Count < _transformer.ScoringBatchSize && _lookahead!.MoveNext())
            {
                if (images.Count == 0)
                    start = _lookahead.Position;
                images.Add(_readLookahead!(_lookahead.Position));
            }
            return (start, images);
        }
        catch
        {
            images.ForEach(image => image.Dispose());
            throw;
        }
    }

    /// <summary>Waits for the prefetched batch, if any, and hands it over (a read error surfaces here).</summary>
    (long Start, List<Tensor> Images)? TakeNextBatch()
    {
        if (_nextBatch is not { } pending)
            return null;
        _nextBatch = null;
        return pending.GetAwaiter().GetResult();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // The worker must be done with the second cursor before any cursor over the input closes.
            try
            {
                TakeNextBatch()?.Images.ForEach(image => image.Dispose());
            }
            catch (Exception)
            {
                // A row the consumer never reached failed to read; it has nothing left to report.
            }
            if (_ownsInput)
                _input.Dispose();
            _lookahead?.Dispose();
        }
        base.Dispose(disposing);
    }
}
