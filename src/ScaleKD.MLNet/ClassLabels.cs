using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace ScaleKD.MLNet;

/// <summary>
/// The classes of a key-typed label column: the key's values in the label's own type (what <c>MapKeyToValue</c> gives
/// back, so an integer label stays an integer) and as text for reports. A key without values has only its count.
/// </summary>
abstract class ClassLabels
{
    // Persisted by index: append only.
    static readonly PrimitiveDataViewType[] ValueTypes =
    [
        TextDataViewType.Instance, NumberDataViewType.SByte, NumberDataViewType.Byte, NumberDataViewType.Int16, NumberDataViewType.UInt16,
        NumberDataViewType.Int32, NumberDataViewType.UInt32, NumberDataViewType.Int64, NumberDataViewType.UInt64, NumberDataViewType.Single,
        NumberDataViewType.Double, BooleanDataViewType.Instance,
    ];

    protected ClassLabels(int count) => Count = count;

    /// <summary>Number of classes: the key's count.</summary>
    public int Count { get; }

    /// <summary>The values' type, or null when the key has no values.</summary>
    public abstract PrimitiveDataViewType? ValueType { get; }

    /// <summary>Each class as text, by key index − 1 ("1" … "n" when the key has no values).</summary>
    public abstract IReadOnlyList<string> Names { get; }

    /// <summary>The classes of a key column (its <c>KeyValues</c> annotation, if any).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The values are of a type a model zip cannot store.</exception>
    public static ClassLabels FromKeyColumn(DataViewSchema.Column label, int count)
    {
        if (label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues)?.Type is not VectorDataViewType { ItemType: var itemType })
            return new Unnamed(count);
        var valueType = ValueTypes.FirstOrDefault(t => t.Equals(itemType))
            ?? throw new ArgumentOutOfRangeException(nameof(label), $"The label column '{label.Name}' has key values of type {itemType}, which a ScaleKD model cannot keep; map the labels from text or numbers.");
        return Create(valueType, nameof(Typed<int>.Read), count, label);
    }

    /// <summary>Reads what <see cref="Save"/> wrote.</summary>
    public static ClassLabels Load(ModelLoadContext ctx, int count)
    {
        var code = ctx.Reader.ReadInt32();
        if (code == -1)
            return new Unnamed(count);
        if (code < 0 || code >= ValueTypes.Length)
            throw new InvalidDataException($"The model zip holds class labels of an unknown type (code {code}).");
        return Create(ValueTypes[code], nameof(Typed<int>.Load), count, ctx);
    }

    /// <summary>Class names written by format 0x00010002, which kept every label as text.</summary>
    public static ClassLabels FromNames(IReadOnlyList<string> names) =>
        new Typed<ReadOnlyMemory<char>>(TextDataViewType.Instance, names.Select(n => n.AsMemory()).ToArray());

    /// <summary>Writes the value type and the values.</summary>
    public void Save(ModelSaveContext ctx)
    {
        ctx.Writer.Write(ValueType is null ? -1 : Array.IndexOf(ValueTypes, ValueType));
        SaveValues(ctx);
    }

    /// <summary>Adds the values as <paramref name="kind"/> (KeyValues, TrainingLabelValues), when there are any.</summary>
    public abstract void AddValues(DataViewSchema.Annotations.Builder builder, string kind);

    /// <summary>Adds text values as slot names, as ML.NET's multiclass trainers do (not for other value types).</summary>
    public abstract void AddSlotNames(DataViewSchema.Annotations.Builder builder);

    protected abstract void SaveValues(ModelSaveContext ctx);

    /// <summary>Calls <paramref name="factory"/> of <see cref="Typed{T}"/> for the value type's raw type.</summary>
    static ClassLabels Create(PrimitiveDataViewType valueType, string factory, int count, object source)
    {
        try
        {
            return (ClassLabels)typeof(Typed<>).MakeGenericType(valueType.RawType).GetMethod(factory)!.Invoke(null, [valueType, count, source])!;
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    /// <summary>A key without values.</summary>
    sealed class Unnamed(int count) : ClassLabels(count)
    {
        public override PrimitiveDataViewType? ValueType => null;
        public override IReadOnlyList<string> Names { get; } = Enumerable.Range(1, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        public override void AddValues(DataViewSchema.Annotations.Builder builder, string kind) { }
        public override void AddSlotNames(DataViewSchema.Annotations.Builder builder) { }
        protected override void SaveValues(ModelSaveContext ctx) { }
    }

    /// <summary>Key values of raw type <typeparamref name="T"/>.</summary>
    sealed class Typed<T>(PrimitiveDataViewType valueType, T[] values) : ClassLabels(values.Length)
    {
        public override PrimitiveDataViewType? ValueType => valueType;

        public override IReadOnlyList<string> Names { get; } = values.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "").ToArray();

        public static ClassLabels Read(PrimitiveDataViewType type, int count, object label)
        {
            VBuffer<T> buffer = default;
            ((DataViewSchema.Column)label).Annotations.GetValue(AnnotationUtils.Kinds.KeyValues, ref buffer);
            var values = buffer.DenseValues().ToArray();
            if (values.Length != count)
                throw new ArgumentOutOfRangeException(nameof(label), $"The label's key has {count} classes but {values.Length} key values.");
            return new Typed<T>(type, values);
        }

        public static ClassLabels Load(PrimitiveDataViewType type, int count, object context)
        {
            var ctx = (ModelLoadContext)context;
            var values = new T[count];
            for (var i = 0; i < count; i++)
                values[i] = (T)ReadValue(ctx, typeof(T));
            return new Typed<T>(type, values);
        }

        public override void AddValues(DataViewSchema.Annotations.Builder builder, string kind) =>
            builder.Add(kind, new VectorDataViewType(valueType, Count), (ref VBuffer<T> value) => Fill(ref value));

        public override void AddSlotNames(DataViewSchema.Annotations.Builder builder)
        {
            if (valueType is TextDataViewType)
                builder.AddSlotNames(Count, (ref VBuffer<ReadOnlyMemory<char>> value) =>
                {
                    var editor = VBufferEditor.Create(ref value, Count);
                    for (var i = 0; i < Count; i++)
                        editor.Values[i] = Names[i].AsMemory();
                    value = editor.Commit();
                });
        }

        protected override void SaveValues(ModelSaveContext ctx)
        {
            foreach (var value in values)
                WriteValue(ctx, value!);
        }

        void Fill(ref VBuffer<T> value)
        {
            var editor = VBufferEditor.Create(ref value, Count);
            values.CopyTo(editor.Values);
            value = editor.Commit();
        }
    }

    static void WriteValue(ModelSaveContext ctx, object value)
    {
        var writer = ctx.Writer;
        switch (value)
        {
            case ReadOnlyMemory<char> text: ctx.SaveString(text.ToString()); break;
            case sbyte v: writer.Write(v); break;
            case byte v: writer.Write(v); break;
            case short v: writer.Write(v); break;
            case ushort v: writer.Write(v); break;
            case int v: writer.Write(v); break;
            case uint v: writer.Write(v); break;
            case long v: writer.Write(v); break;
            case ulong v: writer.Write(v); break;
            case float v: writer.Write(v); break;
            case double v: writer.Write(v); break;
            case bool v: writer.Write(v); break;
            default: throw new ArgumentOutOfRangeException(nameof(value), value.GetType(), "Not a storable label value.");
        }
    }

    static object ReadValue(ModelLoadContext ctx, Type type)
    {
        var reader = ctx.Reader;
        return type == typeof(ReadOnlyMemory<char>) ? ctx.LoadString().AsMemory()
            : type == typeof(sbyte) ? reader.ReadSByte()
            : type == typeof(byte) ? reader.ReadByte()
            : type == typeof(short) ? reader.ReadInt16()
            : type == typeof(ushort) ? reader.ReadUInt16()
            : type == typeof(int) ? reader.ReadInt32()
            : type == typeof(uint) ? reader.ReadUInt32()
            : type == typeof(long) ? reader.ReadInt64()
            : type == typeof(ulong) ? reader.ReadUInt64()
            : type == typeof(float) ? reader.ReadSingle()
            : type == typeof(double) ? reader.ReadDouble()
            : type == typeof(bool) ? reader.ReadBoolean()
            : throw new InvalidDataException($"Label values of type {type.Name} cannot be read.");
    }
}
