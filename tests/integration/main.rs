//! Black-box tests: real redoubt-server processes on free loopback ports.
