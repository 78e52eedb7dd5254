// Package agent is pktlab's kernel socket agent: it drives Linux sockets inside a lab
// node with direct system calls (golang.org/x/sys/unix), so that every call's exact
// result and errno (ECONNREFUSED, EINPROGRESS, EPIPE…) is observed and logged as a typed
// Call record with its time, arguments and result; the calls made through a step's
// view (ForStep) carry that experiment step's id.
//
// Sockets are created on a thread inside the node's network namespace (testlab's
// Node.Do), and a socket stays in the namespace it was created in, so every later call on
// its descriptor acts in that node whatever thread makes it. Sockets are always opened
// O_NONBLOCK; "blocking" calls are emulated with poll(2) in short slices so that a
// context can cancel them, and they report what the blocking call would have returned
// (a blocking connect reports the SO_ERROR that completes it, see connect(2)).
//
// The agent owns only the sockets it creates. It never prints, never touches the host
// namespace, does not capture frames (rawsock does) and does not read kernel socket
// tables (sockdiag does).
package agent
