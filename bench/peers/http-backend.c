/*
 * bench-lb's backend: a small HTTP/1.1 server for the guest namespaces behind both load
 * balancers (routerd's and HAProxy), so the backends cost the same whatever balances them and
 * as little as possible (the 2 cores are shared by the client, the balancer and 4 backends).
 * One thread, epoll, connections kept alive (pipelined requests answered in order); a request
 * head naming "Connection: close" is answered (saying so), then the connection is closed. Every answer is
 * 200 with the body "<name>\n", so a client sees which backend served it. No parsing beyond the
 * end of each head; a head over 4 KiB closes the connection. Not a design to ship.
 *
 * Usage: http-backend <listen ip> <port> <name>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 65536
#define HEAD_MAX 4096

/* Bytes of an unfinished request head, per connection (allocated on first need). */
static char *pending[MAX_FD];
static size_t pending_length[MAX_FD];

static void drop(int poller, int fd) {
  epoll_ctl(poller, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  free(pending[fd]);
  pending[fd] = NULL;
  pending_length[fd] = 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: http-backend <listen ip> <port> <name>\n");
    return 2;
  }
  char answer[512];
  char last[512];
  int length = snprintf(answer, sizeof answer, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s\n", strlen(argv[3]) + 1, argv[3]);
  int last_length = snprintf(last, sizeof last, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n", strlen(argv[3]) + 1, argv[3]);
  if (length <= 0 || (size_t)length >= sizeof answer || last_length <= 0 || (size_t)last_length >= sizeof last) return 2;

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
    perror("http-backend");
    return 1;
  }
  int poller = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(poller, EPOLL_CTL_ADD, listener, &event);
  printf("ready\n");
  fflush(stdout);
  struct epoll_event ready[128];
  char buffer[HEAD_MAX * 4];
  char out[sizeof answer * 64];
  for (;;) {
    int n = epoll_wait(poller, ready, 128, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (client >= MAX_FD) {
            close(client);
            continue;
          }
          setsockopt(client, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
          struct epoll_event e = {.events = EPOLLIN, .data.fd = client};
          epoll_ctl(poller, EPOLL_CTL_ADD, client, &e);
        }
        continue;
      }
      size_t have = pending_length[fd];
      if (have > 0) memcpy(buffer, pending[fd], have);
      ssize_t got = read(fd, buffer + have, sizeof buffer - have);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        drop(poller, fd);
        continue;
      }
      size_t total = have + (size_t)got;
      size_t at = 0;
      size_t written = 0;
      int closing = 0;
      for (;;) {
        char *end = memmem(buffer + at, total - at, "\r\n\r\n", 4);
        if (end == NULL) break;
        size_t head_end = (size_t)(end - buffer) + 4;
        if (memmem(buffer + at, head_end - at, "Connection: close", 17) != NULL || memmem(buffer + at, head_end - at, "connection: close", 17) != NULL) closing = 1;
        const char *reply = closing ? last : answer;
        size_t reply_length = (size_t)(closing ? last_length : length);
        if (written + reply_length <= sizeof out) {
          memcpy(out + written, reply, reply_length);
          written += reply_length;
        }
        at = head_end;
        if (closing) break;
      }
      if (written > 0) (void)!write(fd, out, written);
      if (closing || total - at > HEAD_MAX) {
        drop(poller, fd);
        continue;
      }
      size_t rest = total - at;
      if (rest == 0) {
        pending_length[fd] = 0;
      } else {
        if (pending[fd] == NULL) pending[fd] = malloc(HEAD_MAX * 2);
        memmove(pending[fd], buffer + at, rest);
        pending_length[fd] = rest;
      }
    }
  }
}
