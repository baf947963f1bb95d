package observe

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// spanExporter sends spans through an OTLP client (otlptracehttp's or
// otlptracegrpc's, which keep their endpoint, headers, TLS, compression,
// timeout and retry settings from Export and the OTEL_* environment), but
// encodes them itself: the OTLP exporter of the SDK builds a tree of
// protobuf messages per span (a message per attribute and per value) and
// marshals it by reflection, which cost more than recording the spans did.
// Here each batch is written straight into protobuf wire format
// (opentelemetry/proto/trace/v1/trace.proto, common/v1, resource/v1) and
// handed to the client as the unknown fields of an empty ResourceSpans
// message, which the client's marshal copies as they are: the request on
// the wire is the same as the SDK exporter's (otlp_test.go decodes both
// and compares them).
type spanExporter struct {
	client   otlptrace.Client
	stopOnce sync.Once
	mu       sync.Mutex // one export at a time: enc's buffers
	enc      spanEncoder
}

func newSpanExporter(ctx context.Context, client otlptrace.Client) (*spanExporter, error) {
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	return &spanExporter{client: client}, nil
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.enc.encode(spans)
	if len(rs) == 0 {
		return nil
	}
	if err := e.client.UploadTraces(ctx, rs); err != nil {
		return fmt.Errorf("traces export: %w", err)
	}
	return nil
}

// Shutdown implements sdktrace.SpanExporter.
func (e *spanExporter) Shutdown(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() { err = e.client.Stop(ctx) })
	return err
}

// Field numbers of the OTLP messages written here.
const (
	// ResourceSpans
	fRSResource, fRSScopeSpans, fRSSchemaURL protowire.Number = 1, 2, 3
	// Resource
	fResAttributes protowire.Number = 1
	// ScopeSpans
	fSSScope, fSSSpans, fSSSchemaURL protowire.Number = 1, 2, 3
	// InstrumentationScope
	fScopeName, fScopeVersion, fScopeAttributes protowire.Number = 1, 2, 3
	// Span
	fSpanTraceID, fSpanSpanID, fSpanTraceState, fSpanParentSpanID protowire.Number = 1, 2, 3, 4
	fSpanName, fSpanKind, fSpanStart, fSpanEnd, fSpanAttributes   protowire.Number = 5, 6, 7, 8, 9
	fSpanDroppedAttributes, fSpanEvents, fSpanDroppedEvents       protowire.Number = 10, 11, 12
	fSpanLinks, fSpanDroppedLinks, fSpanStatus, fSpanFlags        protowire.Number = 13, 14, 15, 16
	// Span.Event
	fEventTime, fEventName, fEventAttributes, fEventDropped protowire.Number = 1, 2, 3, 4
	// Span.Link
	fLinkTraceID, fLinkSpanID, fLinkTraceState, fLinkAttributes, fLinkDropped, fLinkFlags protowire.Number = 1, 2, 3, 4, 5, 6
	// Status
	fStatusMessage, fStatusCode protowire.Number = 2, 3
	// KeyValue, AnyValue, ArrayValue, KeyValueList
	fKVKey, fKVValue                                     protowire.Number = 1, 2
	fAnyString, fAnyBool, fAnyInt, fAnyDouble, fAnyArray protowire.Number = 1, 2, 3, 4, 5
	fAnyKVList, fAnyBytes                                protowire.Number = 6, 7
	fArrayValues, fKVListValues                          protowire.Number = 1, 1
	flagsHasIsRemote, flagsIsRemote                      uint32           = 0x100, 0x200
	statusCodeOK, statusCodeError                        uint64           = 1, 2
)

// spanGroup is the spans of one resource and scope.
type spanGroup struct {
	res   *resource.Resource
	scope instrumentation.Scope
	spans []byte // encoded Span fields of ScopeSpans
}

// spanEncoder writes batches of spans; its buffers are kept from one
// batch to the next (the span processor exports one batch at a time, and
// the client has copied a request once UploadTraces returns).
type spanEncoder struct {
	groups []spanGroup
	spare  [][]byte // span buffers of earlier batches' groups
	out    [][]byte // ResourceSpans buffers of earlier batches
}

// encodeSpans writes spans with a new encoder.
func encodeSpans(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	var e spanEncoder
	return e.encode(spans)
}

// encode writes spans as OTLP ResourceSpans, one per resource, each with
// one ScopeSpans per instrumentation scope, in the order first seen. The
// result is valid until the next call.
func (e *spanEncoder) encode(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	for _, g := range e.groups {
		e.spare = append(e.spare, g.spans[:0])
	}
	clear(e.groups)
	e.groups = e.groups[:0]
	for _, s := range spans {
		if s == nil {
			continue
		}
		res, scope := s.Resource(), s.InstrumentationScope()
		i := 0
		for ; i < len(e.groups); i++ {
			if sameResource(e.groups[i].res, res) && e.groups[i].scope == scope {
				break
			}
		}
		if i == len(e.groups) {
			var buf []byte
			if n := len(e.spare); n > 0 {
				buf, e.spare = e.spare[n-1], e.spare[:n-1]
			}
			e.groups = append(e.groups, spanGroup{res: res, scope: scope, spans: buf})
		}
		g := &e.groups[i]
		g.spans = appendTag(g.spans, fSSSpans, protowire.BytesType)
		start := len(g.spans)
		g.spans = appendSpan(g.spans, s)
		g.spans = endLen(g.spans, start)
	}
	var out []*tracepb.ResourceSpans
	for i, g := range e.groups {
		seen := false
		for _, h := range e.groups[:i] {
			if sameResource(h.res, g.res) {
				seen = true
				break
			}
		}
		if seen {
			continue
		}
		if len(e.out) <= len(out) {
			e.out = append(e.out, nil)
		}
		b := e.out[len(out)][:0]
		if g.res != nil {
			b = appendTag(b, fRSResource, protowire.BytesType)
			start := len(b)
			for it := g.res.Iter(); it.Next(); {
				b = appendKV(b, fResAttributes, it.Attribute())
			}
			b = endLen(b, start)
		}
		for _, h := range e.groups[i:] {
			if !sameResource(h.res, g.res) {
				continue
			}
			b = appendTag(b, fRSScopeSpans, protowire.BytesType)
			start := len(b)
			if h.scope != (instrumentation.Scope{}) {
				b = appendTag(b, fSSScope, protowire.BytesType)
				s := len(b)
				b = appendString(b, fScopeName, h.scope.Name)
				b = appendString(b, fScopeVersion, h.scope.Version)
				for it := h.scope.Attributes.Iter(); it.Next(); {
					b = appendKV(b, fScopeAttributes, it.Attribute())
				}
				b = endLen(b, s)
			}
			b = append(b, h.spans...)
			b = appendString(b, fSSSchemaURL, h.scope.SchemaURL)
			b = endLen(b, start)
		}
		if g.res != nil {
			b = appendString(b, fRSSchemaURL, g.res.SchemaURL())
		}
		e.out[len(out)] = b
		rs := &tracepb.ResourceSpans{}
		rs.ProtoReflect().SetUnknown(protoreflect.RawFields(b))
		out = append(out, rs)
	}
	return out
}

// sameResource reports whether a and b are the same resource: the same
// pointer, or the same attributes (the tracer provider keeps a merged copy
// of the resource it was given, which lightSpans carry).
func sameResource(a, b *resource.Resource) bool {
	return a == b || (a != nil && b != nil && a.Equivalent() == b.Equivalent() && a.SchemaURL() == b.SchemaURL())
}

// endLen finishes a length-delimited field whose tag is written and whose
// content starts at start: the content moves up to make room for its
// length.
func endLen(b []byte, start int) []byte {
	n := len(b) - start
	sz := protowire.SizeVarint(uint64(n))
	for range sz {
		b = append(b, 0)
	}
	copy(b[start+sz:], b[start:start+n])
	appendVarint(b[:start], uint64(n))
	return b
}

// appendTag and appendVarint are protowire's, with the one-byte case (every
// tag but a span's flags, most lengths) inline.
func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return appendVarint(b, uint64(num)<<3|uint64(typ&7))
}

func appendVarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	if !validUTF8(s) {
		// A protobuf string must be UTF-8: the SDK's marshal would
		// fail the whole batch.
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b = appendTag(b, num, protowire.BytesType)
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, num, protowire.VarintType)
	return appendVarint(b, v)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func clampCount(v int) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(min(int64(v), math.MaxUint32))
}

func unixNano(t interface{ UnixNano() int64 }) uint64 {
	return uint64(max(0, t.UnixNano())) //nolint:gosec // clamped at 0
}

func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | flagsHasIsRemote
	if parent.IsRemote() {
		f |= flagsIsRemote
	}
	return f
}

// appendSpan writes the fields of one Span.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendTag(b, fSpanTraceID, protowire.BytesType)
	b = protowire.AppendBytes(b, tid[:])
	b = appendTag(b, fSpanSpanID, protowire.BytesType)
	b = protowire.AppendBytes(b, sid[:])
	b = appendString(b, fSpanTraceState, sc.TraceState().String())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendTag(b, fSpanParentSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, psid[:])
	}
	b = appendString(b, fSpanName, s.Name())
	// trace.SpanKind and the OTLP enum share their numbers (unspecified
	// 0, internal 1, server 2, client 3, producer 4, consumer 5).
	if k := s.SpanKind(); k >= trace.SpanKindInternal && k <= trace.SpanKindConsumer {
		b = appendUint(b, fSpanKind, uint64(k))
	}
	b = appendFixed64(b, fSpanStart, unixNano(s.StartTime()))
	b = appendFixed64(b, fSpanEnd, unixNano(s.EndTime()))
	for _, kv := range s.Attributes() {
		b = appendKV(b, fSpanAttributes, kv)
	}
	b = appendUint(b, fSpanDroppedAttributes, clampCount(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		b = appendTag(b, fSpanEvents, protowire.BytesType)
		start := len(b)
		b = appendFixed64(b, fEventTime, unixNano(ev.Time))
		b = appendString(b, fEventName, ev.Name)
		for _, kv := range ev.Attributes {
			b = appendKV(b, fEventAttributes, kv)
		}
		b = appendUint(b, fEventDropped, clampCount(ev.DroppedAttributeCount))
		b = endLen(b, start)
	}
	b = appendUint(b, fSpanDroppedEvents, clampCount(s.DroppedEvents()))
	for _, l := range s.Links() {
		b = appendTag(b, fSpanLinks, protowire.BytesType)
		start := len(b)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b = appendTag(b, fLinkTraceID, protowire.BytesType)
		b = protowire.AppendBytes(b, ltid[:])
		b = appendTag(b, fLinkSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, lsid[:])
		// The SDK's exporter leaves the link's trace state out.
		for _, kv := range l.Attributes {
			b = appendKV(b, fLinkAttributes, kv)
		}
		b = appendUint(b, fLinkDropped, clampCount(l.DroppedAttributeCount))
		b = appendTag(b, fLinkFlags, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = endLen(b, start)
	}
	b = appendUint(b, fSpanDroppedLinks, clampCount(s.DroppedLinks()))
	st := s.Status()
	b = appendTag(b, fSpanStatus, protowire.BytesType)
	start := len(b)
	b = appendString(b, fStatusMessage, st.Description)
	switch st.Code {
	case codes.Ok:
		b = appendUint(b, fStatusCode, statusCodeOK)
	case codes.Error:
		b = appendUint(b, fStatusCode, statusCodeError)
	}
	b = endLen(b, start)
	b = appendTag(b, fSpanFlags, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, spanFlags(sc.TraceFlags(), parent))
}

// validUTF8 is utf8.ValidString with the all-ASCII case (every name and
// nearly every value here) inline.
func validUTF8(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

// sizeBytes is the size of a length-delimited field of n bytes whose tag
// is one byte.
func sizeBytes(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// appendKV writes a KeyValue as field num. A string value, the common
// case, is written with its sizes computed ahead (no content moved).
func appendKV(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	if kv.Value.Type() == attribute.STRING {
		k, v := string(kv.Key), kv.Value.AsString()
		if !validUTF8(k) {
			k = strings.ToValidUTF8(k, "\uFFFD")
		}
		if !validUTF8(v) {
			v = strings.ToValidUTF8(v, "\uFFFD")
		}
		anySize := sizeBytes(len(v))
		size := sizeBytes(anySize)
		if k != "" {
			size += sizeBytes(len(k))
		}
		b = appendTag(b, num, protowire.BytesType)
		b = appendVarint(b, uint64(size))
		if k != "" {
			b = appendTag(b, fKVKey, protowire.BytesType)
			b = appendVarint(b, uint64(len(k)))
			b = append(b, k...)
		}
		b = appendTag(b, fKVValue, protowire.BytesType)
		b = appendVarint(b, uint64(anySize))
		b = appendTag(b, fAnyString, protowire.BytesType)
		b = appendVarint(b, uint64(len(v)))
		return append(b, v...)
	}
	b = appendTag(b, num, protowire.BytesType)
	start := len(b)
	b = appendString(b, fKVKey, string(kv.Key))
	b = appendTag(b, fKVValue, protowire.BytesType)
	s := len(b)
	b = appendAnyValue(b, kv.Value)
	b = endLen(b, s)
	return endLen(b, start)
}

// appendAnyValue writes the fields of an AnyValue (the oneof's member is
// written even when zero: its presence is the value's type).
func appendAnyValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.STRING:
		s := v.AsString()
		if !validUTF8(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		b = appendTag(b, fAnyString, protowire.BytesType)
		b = appendVarint(b, uint64(len(s)))
		return append(b, s...)
	case attribute.BOOL:
		b = appendTag(b, fAnyBool, protowire.VarintType)
		return appendVarint(b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		b = appendTag(b, fAnyInt, protowire.VarintType)
		return appendVarint(b, uint64(v.AsInt64())) //nolint:gosec // int64 is encoded as its two's complement
	case attribute.FLOAT64:
		b = appendTag(b, fAnyDouble, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(v.AsFloat64()))
	case attribute.BYTESLICE:
		b = appendTag(b, fAnyBytes, protowire.BytesType)
		return protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		return appendArray(b, len(v.AsBoolSlice()), func(b []byte, i int) []byte {
			return appendAnyValue(b, attribute.BoolValue(v.AsBoolSlice()[i]))
		})
	case attribute.INT64SLICE:
		vs := v.AsInt64Slice()
		return appendArray(b, len(vs), func(b []byte, i int) []byte { return appendAnyValue(b, attribute.Int64Value(vs[i])) })
	case attribute.FLOAT64SLICE:
		vs := v.AsFloat64Slice()
		return appendArray(b, len(vs), func(b []byte, i int) []byte { return appendAnyValue(b, attribute.Float64Value(vs[i])) })
	case attribute.STRINGSLICE:
		vs := v.AsStringSlice()
		return appendArray(b, len(vs), func(b []byte, i int) []byte { return appendAnyValue(b, attribute.StringValue(vs[i])) })
	case attribute.SLICE:
		vs := v.AsSlice()
		return appendArray(b, len(vs), func(b []byte, i int) []byte { return appendAnyValue(b, vs[i]) })
	case attribute.MAP:
		kvs := v.AsMap()
		b = appendTag(b, fAnyKVList, protowire.BytesType)
		start := len(b)
		for _, kv := range kvs {
			b = appendKV(b, fKVListValues, kv)
		}
		return endLen(b, start)
	case attribute.EMPTY:
		return b
	}
	b = appendTag(b, fAnyString, protowire.BytesType)
	return protowire.AppendString(b, "INVALID")
}

// appendArray writes an ArrayValue of n values as the AnyValue's member.
func appendArray(b []byte, n int, value func([]byte, int) []byte) []byte {
	b = appendTag(b, fAnyArray, protowire.BytesType)
	start := len(b)
	for i := range n {
		b = appendTag(b, fArrayValues, protowire.BytesType)
		s := len(b)
		b = value(b, i)
		b = endLen(b, s)
	}
	return endLen(b, start)
}
