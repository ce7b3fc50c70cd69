package pgcluster

import "syscall"

// setParentDeathSignal makes the kernel send sig to the server if the
// process that started it dies without stopping it (a test binary killed on
// timeout, gatehouse dev killed with SIGKILL).
func setParentDeathSignal(attr *syscall.SysProcAttr, sig syscall.Signal) { attr.Pdeathsig = sig }
