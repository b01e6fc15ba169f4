package wstransport

import (
	"bytes"
	"net"

	"github.com/gorilla/websocket"

	"github.com/weft-dev/weft/session"
)

// tooLargeConn puts weft's documented close code on oversized messages.
// gorilla/websocket closes such a connection by itself, with 1009 and no
// reason, before the application hears of it (Conn.advanceFrame writes
// the close frame, then returns ErrReadLimit), and neither gorilla nor
// melody offers a hook to choose that frame. Lifting the read limit and
// checking sizes in the handler instead would buffer a whole oversized
// message first. So this connection rewrites that one frame into
// CloseTooLarge (4502: do not resend it unchanged).
type tooLargeConn struct{ net.Conn }

// gorillaTooBig is that frame: FIN|close, 2 bytes of payload, code 1009.
// gorilla writes each control frame with a single Write, and a server's
// frames are not masked, so the bytes are exact.
var gorillaTooBig = []byte{0x88, 0x02, 0x03, 0xf1}

var tooLargeFrame = func() []byte {
	p := websocket.FormatCloseMessage(session.ErrCloseTooLarge.Code, session.ErrCloseTooLarge.Reason)
	return append([]byte{0x88, byte(len(p))}, p...)
}()

func (c tooLargeConn) Write(p []byte) (int, error) {
	if bytes.Equal(p, gorillaTooBig) {
		if _, err := c.Conn.Write(tooLargeFrame); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}
