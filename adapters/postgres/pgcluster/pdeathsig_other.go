//go:build unix && !linux

package pgcluster

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal: a server whose parent was killed outright keeps running there, and
// the next start reports its postmaster.pid.
func setParentDeathSignal(*syscall.SysProcAttr, syscall.Signal) {}
