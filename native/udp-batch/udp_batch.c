/*
 * Batched UDP for routerd's DNS server: recvmmsg/sendmmsg on a non-blocking socket watched by
 * libuv. Node's dgram pays a JS round trip, an allocation and a syscall per datagram, which caps
 * a DNS server near 60 % of dnsmasq's rate on this hardware; in batches the cost is shared.
 *
 * JS API (all numbers are host order; addresses IPv4 as uint32):
 *   open(ip, port, rcvbuf) -> fd              bound, non-blocking, SO_REUSEADDR
 *   recv(fd, buf, slot, lens, addrs, ports) -> n      up to lens.length datagrams, datagram i
 *                                                     at buf[i*slot], 0 when none is waiting
 *   send(fd, buf, offsets, lens, addrs, ports, n) -> sent   a datagram the kernel refuses is skipped
 *   watch(fd, callback) -> handle             callback() whenever the socket is readable; callback(error)
 *                                             (code ERR_UDP_BATCH_POLL) once if polling fails, which ends it;
 *                                             takes the fd (closed on failure); the handle's finalizer
 *                                             stops watching if it is collected unwatched
 *   unwatch(handle)                           stops watching and closes the fd; again: nothing
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 64

#define CHECK(env, call)                                          \
  do {                                                            \
    if ((call) != napi_ok) {                                      \
      napi_throw_error((env), "ERR_UDP_BATCH_NAPI", #call " failed"); \
      return NULL;                                                \
    }                                                             \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, "ERR_UDP_BATCH_SYSCALL", message);
  return NULL;
}

static napi_value number(napi_env env, double value) {
  napi_value out;
  napi_create_double(env, value, &out);
  return out;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset) != napi_ok) return 0;
  return type == want;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char ip[64];
  size_t ip_len;
  int32_t port, rcvbuf;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], ip, sizeof ip, &ip_len) != napi_ok || !get_int(env, argv[1], &port) || !get_int(env, argv[2], &rcvbuf)) {
    napi_throw_type_error(env, "ERR_UDP_BATCH_ARGS", "open(ip, port, rcvbuf)");
    return NULL;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
    napi_throw_type_error(env, "ERR_UDP_BATCH_ARGS", "not an IPv4 address");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket");
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  /* FORCE: above net.core.rmem_max, which root may do; fall back to the capped value. */
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, "bind");
  }
  return number(env, fd);
}

static napi_value js_recv(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slot;
  uint8_t *buf;
  uint16_t *lens, *ports;
  uint32_t *addrs;
  size_t buf_len, n_lens, n_addrs, n_ports;
  if (argc < 6 || !get_int(env, argv[0], &fd) || !get_typed(env, argv[1], napi_uint8_array, (void **)&buf, &buf_len) || !get_int(env, argv[2], &slot) ||
      !get_typed(env, argv[3], napi_uint16_array, (void **)&lens, &n_lens) || !get_typed(env, argv[4], napi_uint32_array, (void **)&addrs, &n_addrs) ||
      !get_typed(env, argv[5], napi_uint16_array, (void **)&ports, &n_ports) || slot <= 0) {
    napi_throw_type_error(env, "ERR_UDP_BATCH_ARGS", "recv(fd, buf, slot, lens, addrs, ports)");
    return NULL;
  }
  size_t count = n_lens;
  if (count > n_addrs) count = n_addrs;
  if (count > n_ports) count = n_ports;
  if (count > MAX_BATCH) count = MAX_BATCH;
  if (count * (size_t)slot > buf_len) count = buf_len / (size_t)slot;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
  memset(msgs, 0, sizeof(struct mmsghdr) * count);
  for (size_t i = 0; i < count; i++) {
    iov[i].iov_base = buf + i * (size_t)slot;
    iov[i].iov_len = (size_t)slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n = recvmmsg(fd, msgs, (unsigned)count, MSG_DONTWAIT, NULL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return number(env, 0);
    return throw_errno(env, "recvmmsg");
  }
  for (int i = 0; i < n; i++) {
    /* A datagram longer than the slot is cut: reported as the slot length plus one (dropped by the caller). */
    lens[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? (uint16_t)(slot + 1 > 65535 ? 65535 : slot + 1) : (uint16_t)msgs[i].msg_len;
    addrs[i] = ntohl(from[i].sin_addr.s_addr);
    ports[i] = ntohs(from[i].sin_port);
  }
  return number(env, n);
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, n;
  uint8_t *buf;
  uint32_t *offsets, *addrs;
  uint16_t *lens, *ports;
  size_t buf_len, n_off, n_lens, n_addrs, n_ports;
  if (argc < 7 || !get_int(env, argv[0], &fd) || !get_typed(env, argv[1], napi_uint8_array, (void **)&buf, &buf_len) ||
      !get_typed(env, argv[2], napi_uint32_array, (void **)&offsets, &n_off) || !get_typed(env, argv[3], napi_uint16_array, (void **)&lens, &n_lens) ||
      !get_typed(env, argv[4], napi_uint32_array, (void **)&addrs, &n_addrs) || !get_typed(env, argv[5], napi_uint16_array, (void **)&ports, &n_ports) ||
      !get_int(env, argv[6], &n) || n < 0) {
    napi_throw_type_error(env, "ERR_UDP_BATCH_ARGS", "send(fd, buf, offsets, lens, addrs, ports, n)");
    return NULL;
  }
  size_t count = (size_t)n;
  if (count > n_off || count > n_lens || count > n_addrs || count > n_ports) {
    napi_throw_range_error(env, "ERR_UDP_BATCH_ARGS", "n exceeds an array");
    return NULL;
  }
  size_t done = 0;       /* datagrams handled: sent, or skipped because the kernel refused them */
  size_t sent_total = 0;
  while (done < count) {
    size_t batch = count - done > MAX_BATCH ? MAX_BATCH : count - done;
    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    struct sockaddr_in to[MAX_BATCH];
    memset(msgs, 0, sizeof(struct mmsghdr) * batch);
    for (size_t i = 0; i < batch; i++) {
      size_t k = done + i;
      if ((size_t)offsets[k] + lens[k] > buf_len) {
        napi_throw_range_error(env, "ERR_UDP_BATCH_ARGS", "a datagram lies outside the buffer");
        return NULL;
      }
      iov[i].iov_base = buf + offsets[k];
      iov[i].iov_len = lens[k];
      memset(&to[i], 0, sizeof to[i]);
      to[i].sin_family = AF_INET;
      to[i].sin_addr.s_addr = htonl(addrs[k]);
      to[i].sin_port = htons(ports[k]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &to[i];
      msgs[i].msg_hdr.msg_namelen = sizeof to[i];
    }
    int r = sendmmsg(fd, msgs, (unsigned)batch, MSG_DONTWAIT);
    if (r > 0) {
      done += (size_t)r;
      sent_total += (size_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    /* A full send buffer drops the rest, as a UDP server may. */
    if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
    /*
     * sendmmsg stops at the first datagram the kernel refuses (EINVAL for port 0, EACCES,
     * EHOSTUNREACH…) and reports only that error: skip that one datagram, send the others.
     */
    done += 1;
  }
  return number(env, (double)sent_total);
}

/*
 * A watched socket. It is freed once both the libuv handle has closed (on_closed) and the JS
 * external that names it has been collected (finalize): JS may still hold the handle after
 * unwatch (a second unwatch must find it), and the poll may still be closing when the external
 * goes.
 */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int fd;
  bool unwatched;     /* stop_watching ran: poll stopped, JS references dropped, handle closing */
  bool handle_closed; /* on_closed ran: the fd is closed */
  bool finalized;     /* no JS external refers to it any more */
} watcher_t;

static void release_js(napi_env env, watcher_t *w) {
  if (w->callback != NULL) napi_delete_reference(env, w->callback);
  if (w->context != NULL) napi_async_destroy(env, w->context);
  w->callback = NULL;
  w->context = NULL;
}

static void free_if_done(watcher_t *w) {
  if (w->handle_closed && w->finalized) free(w);
}

static void on_closed(uv_handle_t *handle) {
  watcher_t *w = (watcher_t *)handle->data;
  close(w->fd);
  w->fd = -1;
  w->handle_closed = true;
  free_if_done(w);
}

/* Stops watching and closes the socket; harmless when already done. */
static void stop_watching(napi_env env, watcher_t *w) {
  if (w->unwatched) return;
  w->unwatched = true;
  uv_poll_stop(&w->poll);
  release_js(env, w);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

/* The external was collected: a watch nobody can unwatch any more is stopped, its fd closed. */
static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  watcher_t *w = (watcher_t *)data;
  w->finalized = true;
  if (!w->unwatched) stop_watching(env, w); /* frees in on_closed */
  else free_if_done(w);
}

/* An Error with a stable code, for the poll failure handed to JS. */
static napi_value poll_error(napi_env env, int status) {
  napi_value code, message, error;
  if (napi_create_string_utf8(env, "ERR_UDP_BATCH_POLL", NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, uv_strerror(status), NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, code, message, &error) != napi_ok) return NULL;
  return error;
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  watcher_t *w = (watcher_t *)poll->data;
  napi_handle_scope scope;
  if (w->unwatched || napi_open_handle_scope(w->env, &scope) != napi_ok) return;
  napi_value callback, resource, result;
  napi_value argv[1];
  size_t argc = 0;
  if (status < 0) {
    /* libuv has stopped the poll (EPOLLERR): JS hears of it as callback(error) and re-opens. */
    argv[0] = poll_error(w->env, status);
    if (argv[0] != NULL) argc = 1;
  }
  if (napi_get_reference_value(w->env, w->callback, &callback) == napi_ok && callback != NULL && napi_get_global(w->env, &resource) == napi_ok) {
    /* make_callback: the microtasks and nextTicks the callback queued run after it, as for any I/O. */
    if (napi_make_callback(w->env, w->context, resource, callback, argc, argc > 0 ? argv : NULL, &result) != napi_ok) {
      /* The callback threw: report it as an uncaught exception, as Node does for I/O callbacks. */
      bool pending = false;
      napi_is_exception_pending(w->env, &pending);
      if (pending) {
        napi_value error;
        napi_get_and_clear_last_exception(w->env, &error);
        napi_fatal_exception(w->env, error);
      }
    }
  }
  napi_close_handle_scope(w->env, scope);
}

/* watch(fd, callback) takes the fd: on failure it is closed, after success unwatch closes it. */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 2 || !get_int(env, argv[0], &fd)) {
    napi_throw_type_error(env, "ERR_UDP_BATCH_ARGS", "watch(fd, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  napi_value name, handle;
  const char *failed;
  watcher_t *w = calloc(1, sizeof *w);
  if (w == NULL) {
    close(fd);
    return throw_errno(env, "calloc");
  }
  w->env = env;
  w->fd = fd;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) { failed = "napi_get_uv_event_loop"; goto fail; }
  if (napi_create_string_utf8(env, "udp-batch", NAPI_AUTO_LENGTH, &name) != napi_ok) { failed = "napi_create_string_utf8"; goto fail; }
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) { failed = "napi_create_reference"; goto fail; }
  if (napi_async_init(env, NULL, name, &w->context) != napi_ok) { failed = "napi_async_init"; goto fail; }
  if (uv_poll_init(loop, &w->poll, fd) != 0) { failed = "uv_poll_init"; goto fail; }
  w->poll.data = w;
  /* From here the handle is initialised: it must be closed through libuv, which frees w. */
  if (uv_poll_start(&w->poll, UV_READABLE, on_readable) != 0) { failed = "uv_poll_start"; goto fail_handle; }
  if (napi_create_external(env, w, finalize, NULL, &handle) != napi_ok) { failed = "napi_create_external"; goto fail_handle; }
  return handle;

fail:
  release_js(env, w);
  close(fd);
  free(w);
  napi_throw_error(env, "ERR_UDP_BATCH_NAPI", failed);
  return NULL;
fail_handle:
  w->finalized = true; /* no external will ever be finalized for it */
  stop_watching(env, w);
  napi_throw_error(env, "ERR_UDP_BATCH_SYSCALL", failed);
  return NULL;
}

/* unwatch(handle): stops watching and closes the fd; a second call does nothing. */
static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watcher_t *w;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&w) != napi_ok || w == NULL) {
    napi_throw_type_error(env, "ERR_UDP_BATCH_ARGS", "unwatch(handle)");
    return NULL;
  }
  stop_watching(env, w);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"recv", NULL, js_recv, NULL, NULL, NULL, napi_enumerable, NULL},
    {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"watch", NULL, js_watch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unwatch", NULL, js_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
