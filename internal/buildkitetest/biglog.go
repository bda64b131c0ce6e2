package buildkitetest

import (
	"errors"
	"io"
	"strconv"
	"strings"
)

// GeneratedLog is a job log of any size made up on the fly, so a test can
// serve a 50 MB log without a 50 MB fixture or a 50 MB string. Every line
// has the same width in bytes, so any byte offset maps to a line and Range
// requests are cheap. Line n (1-based) is, as uploaded by the agent:
//
//	\x1b_bk;t=<ms>\x07<text>\r\n
//
// where <text> is GeneratedLog.Text(n), except that on error lines the word
// ERROR is wrapped in ANSI red. Error lines are those n with
// n%GeneratedErrorEvery == 0.
type GeneratedLog struct {
	lines int
}

// GeneratedErrorEvery spaces the error lines of a GeneratedLog.
const GeneratedErrorEvery = 9973

// generatedWidth is the width of every line, "\r\n" included.
const generatedWidth = 128

const generatedStartMillis = 1764000000000 // 2025-11-24T16:00:00Z

// NewGeneratedLog makes a log of at least size bytes (whole lines).
func NewGeneratedLog(size int64) *GeneratedLog {
	return &GeneratedLog{lines: int((size + generatedWidth - 1) / generatedWidth)}
}

// Lines is the number of lines in the log.
func (g *GeneratedLog) Lines() int { return g.lines }

// Size is the log's length in bytes.
func (g *GeneratedLog) Size() int64 { return int64(g.lines) * generatedWidth }

// IsError reports whether line n is an error line.
func (g *GeneratedLog) IsError(n int) bool { return n%GeneratedErrorEvery == 0 }

// Text is line n as a reader sees it: timestamp and colours removed.
func (g *GeneratedLog) Text(n int) string {
	raw := len(g.appendRaw(nil, n))
	b := g.appendBody(nil, n, false)
	return string(append(b, strings.Repeat(".", generatedWidth-2-raw)...))
}

// appendRaw renders line n as uploaded, without its "\r\n" and padding.
func (g *GeneratedLog) appendRaw(b []byte, n int) []byte {
	b = append(b, "\x1b_bk;t="...)
	b = strconv.AppendInt(b, generatedStartMillis+int64(n)*7, 10)
	b = append(b, '\a')
	return g.appendBody(b, n, true)
}

func (g *GeneratedLog) appendBody(b []byte, n int, colour bool) []byte {
	switch {
	case g.IsError(n) && colour:
		b = append(b, "\x1b[31mERROR\x1b[0m checkout-worker: payment gateway timed out, batch "...)
	case g.IsError(n):
		b = append(b, "ERROR checkout-worker: payment gateway timed out, batch "...)
	default:
		b = append(b, "INFO  checkout-worker: processed batch "...)
	}
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " in "...)
	b = strconv.AppendInt(b, int64(n*37%997), 10)
	return append(b, "ms "...)
}

// appendLine renders line n as uploaded, padded to the common width, with
// its "\r\n".
func (g *GeneratedLog) appendLine(b []byte, n int) []byte {
	start := len(b)
	b = g.appendRaw(b, n)
	for len(b)-start < generatedWidth-2 {
		b = append(b, '.')
	}
	return append(b, '\r', '\n')
}

// reader returns a fresh io.ReadSeeker over the raw log.
func (g *GeneratedLog) reader() io.ReadSeeker { return &generatedReader{g: g} }

type generatedReader struct {
	g    *GeneratedLog
	off  int64
	line []byte // scratch for one raw line
}

func (r *generatedReader) Read(p []byte) (int, error) {
	size := r.g.Size()
	if r.off >= size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < size {
		idx := int(r.off / generatedWidth)
		col := int(r.off % generatedWidth)
		r.line = r.g.appendLine(r.line[:0], idx+1)
		c := copy(p[n:], r.line[col:])
		n += c
		r.off += int64(c)
	}
	return n, nil
}

func (r *generatedReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.g.Size()
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	r.off = offset
	return offset, nil
}

// PlantLog makes the job with jobID serve log as its raw log. It reports
// whether the job exists.
func (s *Server) PlantLog(jobID string, log *GeneratedLog) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.data.Organizations {
		for _, p := range o.Pipelines {
			for _, b := range p.Builds {
				for _, j := range b.Jobs {
					if j.ID == jobID {
						j.BigLog = log
						return true
					}
				}
			}
		}
	}
	return false
}
