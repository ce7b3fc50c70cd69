package postgres

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeVerdict decodes the verdict column, which every read of a settled
// upload carries (the hot read included). PostgreSQL hands jsonb back in
// its own plain form: an object of strings and arrays of strings, keys in
// its order, a space after each colon and comma. decodeVerdict reads that
// form directly, without encoding/json's reflection; anything else (a \u
// escape, invalid UTF-8, a null, a number, a key that is not exactly one
// of verdictRow's, a repeated key) goes to encoding/json, which then
// decides as it always did. FuzzDecodeVerdict checks that
// whatever the fast path accepts, encoding/json decodes to the same value.
func decodeVerdict(b []byte) (verdictRow, error) {
	if v, ok := decodeVerdictFast(b); ok {
		return v, nil
	}
	var v verdictRow
	err := json.Unmarshal(b, &v)
	return v, err
}

// verdictReader is a cursor over the fast path's input.
type verdictReader struct {
	b []byte
	i int
}

func (r *verdictReader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// byte consumes c, after any whitespace.
func (r *verdictReader) byte(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// peek reports whether c is next, after any whitespace.
func (r *verdictReader) peek(c byte) bool {
	r.space()
	return r.i < len(r.b) && r.b[r.i] == c
}

// str reads a string: UTF-8 without control characters, with no escapes
// but \" \\ \/ \b \f \n \r \t; ok is false for any other.
func (r *verdictReader) str() (string, bool) {
	b, ok := r.strBytes()
	return string(b), ok
}

// strBytes is str without the copy: the bytes are the input's, or a
// new slice when the string had escapes.
func (r *verdictReader) strBytes() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	start := r.i
	var esc []byte // the string so far, once an escape was met
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			if esc != nil {
				s = append(esc, s...)
			}
			if !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c < 0x20:
			return nil, false
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return nil, false
			}
			esc = append(esc, r.b[start:r.i]...)
			switch e := r.b[r.i+1]; e {
			case '"', '\\', '/':
				esc = append(esc, e)
			case 'b':
				esc = append(esc, '\b')
			case 'f':
				esc = append(esc, '\f')
			case 'n':
				esc = append(esc, '\n')
			case 'r':
				esc = append(esc, '\r')
			case 't':
				esc = append(esc, '\t')
			default: // \u escapes, and invalid ones
				return nil, false
			}
			r.i += 2
			start = r.i
			continue
		}
		r.i++
	}
	return nil, false
}

// strs reads an array of such strings.
func (r *verdictReader) strs() ([]string, bool) {
	if !r.byte('[') {
		return nil, false
	}
	out := []string{}
	if r.byte(']') {
		return out, true
	}
	for {
		s, ok := r.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if r.byte(']') {
			return out, true
		}
		if !r.byte(',') {
			return nil, false
		}
	}
}

func decodeVerdictFast(b []byte) (verdictRow, bool) {
	var (
		v    verdictRow
		seen uint8
	)
	r := verdictReader{b: b}
	if !r.byte('{') {
		return v, false
	}
	for first := true; ; first = false {
		if r.byte('}') {
			break
		}
		if !first && !r.byte(',') {
			return v, false
		}
		key, ok := r.strBytes()
		if !ok || !r.byte(':') {
			return v, false
		}
		var (
			s   *string
			ss  *[]string
			bit uint8
		)
		switch string(key) {
		case "bucket":
			s, bit = &v.Bucket, 1<<0
		case "key":
			s, bit = &v.Key, 1<<1
		case "version_id":
			s, bit = &v.VersionID, 1<<2
		case "etag":
			s, bit = &v.ETag, 1<<3
		case "scan_status":
			s, bit = &v.ScanStatus, 1<<4
		case "result":
			s, bit = &v.Result, 1<<5
		case "threats":
			ss, bit = &v.Threats, 1<<6
		case "reasons":
			ss, bit = &v.Reasons, 1<<7
		default:
			return v, false
		}
		if seen&bit != 0 {
			return v, false
		}
		seen |= bit
		if s != nil {
			if *s, ok = r.str(); !ok {
				return v, false
			}
		} else if !r.peek('[') {
			return v, false
		} else if *ss, ok = r.strs(); !ok {
			return v, false
		}
	}
	r.space()
	return v, r.i == len(b)
}
