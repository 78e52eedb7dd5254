// Package sockdiag reads the kernel's TCP socket table of a lab node over NETLINK_INET_DIAG
// (sock_diag(7)), as `ss -tan` does, so an experiment can assert that a kernel socket is
// in TIME_WAIT, CLOSE_WAIT and so on.
//
// It owns only the reading and naming of socket states. It uses
// github.com/vishvananda/netlink's SocketDiagTCP with a handle opened inside the node's
// namespace (testlab Node.Handle) and never reads or changes the host's namespace. It
// does not create sockets (agent does).
package sockdiag
