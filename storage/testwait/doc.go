// Package testwait lets tests wait for a condition instead of for a length
// of time: For polls a condition with a short, growing interval until it
// holds, and fails the test with the condition's last error when it does
// not hold in time.
//
// In a testing/synctest bubble For polls on the bubble's fake clock: its
// pauses are time.Sleep, so they let the clock move on to the next timer.
//
// It is for test code only. It lives under storage, not next to the
// packages that use it most, because storage is the bottom of weft's
// import graph: every package's tests (storage's own included) may import
// storage/testwait without an import cycle. To keep it that way it imports
// nothing of weft, only the standard library.
package testwait
