package launch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a server process started for one workload.
type Server struct {
	Name string
	URL  string // its WebSocket URL, ending in "/"
	cmd  *exec.Cmd
	tmp  string // removed after it stops
	log  *tailBuf
	exit chan struct{}
}

// PID is the server's process id (its process group's too).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log is the last lines the server printed, for error reports.
func (s *Server) Log() string { return s.log.String() }

// tailBuf keeps the last lines a process printed, for error reports.
type tailBuf struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuf) add(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, l)
	if len(t.lines) > 40 {
		t.lines = t.lines[len(t.lines)-40:]
	}
}

func (t *tailBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// Ready reads one line of a starting process's output (stdout or stderr)
// and reports whether it says the process is ready, and at what address
// (may be empty).
type Ready func(line string) (addr string, ok bool)

// listening is the ready line of weft and the reference server:
// "...listening on URL".
func listening(l string) (string, bool) {
	_, u, ok := strings.Cut(l, "listening on ")
	return strings.TrimSpace(u), ok
}

// start runs cmd in its own process group and waits for the line
// "...listening on URL" on its output; the server's URL is then its
// WebSocket form.
func start(name string, cmd *exec.Cmd, tmp string) (*Server, error) {
	s, addr, err := Start(name, cmd, tmp, listening)
	if err != nil {
		return nil, err
	}
	s.URL = wsURL(addr)
	return s, nil
}

// Start runs cmd in its own process group and waits (60 s at most) for a
// line of its output that ready accepts, returning the address that line
// gives. tmp, if not empty, is removed when the process stops (or fails to
// start).
func Start(name string, cmd *exec.Cmd, tmp string, ready Ready) (*Server, string, error) {
	s := &Server{Name: name, cmd: cmd, tmp: tmp, log: &tailBuf{}, exit: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		removeTmp(tmp)
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	found := s.follow(ready, stdout, stderr)
	select {
	case u := <-found:
		return s, u, nil
	case <-s.exit:
		removeTmp(tmp)
		return nil, "", fmt.Errorf("%s exited before it was ready:\n%s", name, s.log)
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, "", fmt.Errorf("%s was not ready within 60 s:\n%s", name, s.log)
	}
}

func removeTmp(dir string) {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// follow keeps the tail of the server's output and sends the address of
// the first line ready accepts; s.exit is closed once the output has
// ended and the process has been waited for.
func (s *Server) follow(ready Ready, outs ...io.Reader) <-chan string {
	found := make(chan string, 1)
	var pipes sync.WaitGroup
	for _, out := range outs {
		pipes.Add(1)
		go func() {
			defer pipes.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				l := sc.Text()
				s.log.add(l)
				if u, ok := ready(l); ok {
					select {
					case found <- u:
					default:
					}
				}
			}
		}()
	}
	go func() { pipes.Wait(); s.cmd.Wait(); close(s.exit) }()
	return found
}

// wsURL turns the address a server prints into a WebSocket URL ending in
// "/".
func wsURL(u string) string {
	u = strings.Replace(strings.Replace(u, "http://", "ws://", 1), "https://", "wss://", 1)
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// Stop sends SIGTERM to the server's process group, then SIGKILL if it
// is still there after 10 s, and removes its temporary directory.
func (s *Server) Stop() {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exit
	}
	// Workers left behind in the group, if any.
	syscall.Kill(-pgid, syscall.SIGKILL)
	removeTmp(s.tmp)
}

// Exited reports whether the process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.exit:
		return true
	default:
		return false
	}
}

// Weft serves bin on a free loopback port with a temporary data
// directory.
func Weft(bin string) (*Server, error) { return WeftWith(bin, WeftOptions{}) }

// WeftOptions are the settings of a weft node beyond Weft's.
type WeftOptions struct {
	Name string   // for logs and errors; empty: "weft"
	Data string   // data directory, kept; empty: a temporary one, removed on Stop
	Args []string // more serve flags (--nats, --replicas, ...)
}

// WeftWith serves bin on a free loopback port with o's data directory and
// flags.
func WeftWith(bin string, o WeftOptions) (*Server, error) {
	data, tmp := o.Data, ""
	if data == "" {
		var err error
		if data, err = os.MkdirTemp("", "weft-bench-data-"); err != nil {
			return nil, fmt.Errorf("weft data directory: %w", err)
		}
		tmp = data
	}
	if o.Name == "" {
		o.Name = "weft"
	}
	// Every bench connection comes from 127.0.0.1: lift the per-address
	// and admission limits meant for the open internet (the API's rate
	// too: the cluster mode uploads through it).
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn",
		"--max-conns-per-ip", "0", "--admission-rate", "0", "--api-rate", "0"}, o.Args...)
	return start(o.Name, exec.Command(bin, args...), tmp)
}

// Reference runs the reference server of dir (server.mjs, npm ci done)
// on a free loopback port.
func Reference(dir string) (*Server, error) {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@automerge", "automerge-repo-storage-nodefs")); err != nil {
		return nil, fmt.Errorf("reference server: run npm ci in %s first (make bench-compare does)", dir)
	}
	cmd := exec.Command("node", "server.mjs", "0")
	cmd.Dir = dir
	return start("reference", cmd, "")
}
