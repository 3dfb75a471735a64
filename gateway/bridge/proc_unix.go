//go:build unix

package bridge

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes the child the leader of a new process group, so that
// ending a session also ends whatever the child started.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the child's process group. A group that is
// already gone is not an error.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
