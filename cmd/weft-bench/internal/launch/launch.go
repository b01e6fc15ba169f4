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

// start runs cmd in its own process group and waits for the line
// "...listening on URL" on its stdout.
func start(name string, cmd *exec.Cmd, tmp string) (*Server, error) {
	s := &Server{Name: name, cmd: cmd, tmp: tmp, log: &tailBuf{}, exit: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	found := s.follow(stdout, stderr)
	select {
	case u := <-found:
		s.URL = wsURL(u)
		return s, nil
	case <-s.exit:
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%s exited before listening:\n%s", name, s.log)
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("%s did not print its address within 60 s:\n%s", name, s.log)
	}
}

// follow keeps the tail of the server's output and sends the first
// address it says it listens on; s.exit is closed once the output has
// ended and the process has been waited for.
func (s *Server) follow(stdout, stderr io.Reader) <-chan string {
	found := make(chan string, 1)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			s.log.add(l)
			if _, u, ok := strings.Cut(l, "listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.add(sc.Text())
		}
	}()
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
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

// Weft serves bin on a free loopback port with a temporary data
// directory.
func Weft(bin string) (*Server, error) {
	data, err := os.MkdirTemp("", "weft-bench-data-")
	if err != nil {
		return nil, err
	}
	// Every bench connection comes from 127.0.0.1: lift the per-address
	// and admission limits meant for the open internet.
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn",
		"--max-conns-per-ip", "0", "--admission-rate", "0")
	return start("weft", cmd, data)
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
