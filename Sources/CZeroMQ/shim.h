// libzmq's C API (ROUTER/DEALER sockets, zmq_poll, CURVE).
#include <zmq.h>
