package crdt

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes a worker die with its parent, even on kill -9.
func setDeathSignal(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
