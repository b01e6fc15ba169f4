// Package idle is weft-bench's idle mode: it opens N joined connections
// that then only answer pings, and reports the growth of the server's
// resident memory per connection.
package idle
