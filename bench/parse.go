package bench

import (
	"bytes"
	"errors"
	"strconv"
)

// parsedResponse is one complete HTTP/1.1 response found at the start of a
// buffer.
type parsedResponse struct {
	// Len is how many bytes of the buffer the response took.
	Len    int
	Status int
	// Body is the start of the body (at most 512 bytes), kept only when the
	// status was not the one wanted; it aliases the buffer.
	Body []byte
	// Close is set when the server said it will close the connection.
	Close bool
}

// errIncomplete says the buffer does not hold a whole response yet.
var errIncomplete = errors.New("incomplete HTTP response")

// parseResponse reads the response at the start of buf, which must be the
// answer to a request that was not HEAD. It returns errIncomplete while the
// response is still arriving and errBadResponse (or another error) when it
// is not HTTP/1.x the load generator understands: a status line, headers, a
// body with Content-Length or chunked encoding, or none for 204 and 304.
func parseResponse(buf []byte, want int) (parsedResponse, error) {
	var r parsedResponse
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > 64<<10 {
			return r, errors.New("HTTP response header over 64 KiB")
		}
		return r, errIncomplete
	}
	head := buf[:end]
	line, headers, _ := bytes.Cut(head, []byte("\r\n"))
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, errBadResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return r, errBadResponse
	}
	r.Status = status
	length, chunked := int64(-1), false
	for len(headers) > 0 {
		var h []byte
		h, headers, _ = bytes.Cut(headers, []byte("\r\n"))
		name, val, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return r, errBadResponse
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(val), 10, 64); err != nil || length < 0 {
				return r, errBadResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			r.Close = bytes.EqualFold(val, []byte("close"))
		}
	}
	pos := end + 4
	keep := func(b []byte) {
		if status != want && len(r.Body) < 512 {
			r.Body = append(r.Body, b[:min(len(b), 512-len(r.Body))]...)
		}
	}
	switch {
	case chunked:
		for {
			i := bytes.Index(buf[pos:], []byte("\r\n"))
			if i < 0 {
				return r, errIncomplete
			}
			size := buf[pos : pos+i]
			if j := bytes.IndexByte(size, ';'); j >= 0 {
				size = size[:j]
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
			if err != nil || n < 0 {
				return r, errBadResponse
			}
			pos += i + 2
			if n == 0 {
				// Trailers, if any, then an empty line.
				for {
					i := bytes.Index(buf[pos:], []byte("\r\n"))
					if i < 0 {
						return r, errIncomplete
					}
					pos += i + 2
					if i == 0 {
						r.Len = pos
						return r, nil
					}
				}
			}
			if int64(len(buf)-pos) < n+2 {
				return r, errIncomplete
			}
			keep(buf[pos : pos+int(n)])
			pos += int(n)
			if !bytes.HasPrefix(buf[pos:], []byte("\r\n")) {
				return r, errBadResponse
			}
			pos += 2
		}
	case length >= 0:
		if int64(len(buf)-pos) < length {
			return r, errIncomplete
		}
		keep(buf[pos : pos+int(length)])
		r.Len = pos + int(length)
		return r, nil
	case status == 204 || status == 304:
		r.Len = pos
		return r, nil
	default:
		return r, errors.New("response without Content-Length or chunked encoding")
	}
}
