// Package launch starts the servers compare mode (and the end-to-end
// tests) load: a fresh weft or reference Node sync server in its own
// process group and temporary directory, ready once it prints the address
// it listens on, and stops them again.
package launch
