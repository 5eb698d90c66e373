/*
 * The lab's ceiling for password_requests_per_s: the least a server can do for a connection per
 * request. One thread, epoll, no parsing beyond the end of the head, no lookup, no error
 * handling worth the name: it answers every request with the same 200 and body and closes.
 * Not a peer and not a design to ship (a hostile guest is not considered): it measures what the
 * client and the kernel cost, so the per-connection ratio any server could reach here is known.
 *
 * Usage: lab-ceiling <listen ip> <port> <body>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: lab-ceiling <listen ip> <port> <body>\n");
    return 2;
  }
  char answer[1024];
  int length = snprintf(answer, sizeof answer, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s", strlen(argv[3]), argv[3]);
  if (length <= 0 || (size_t)length >= sizeof answer) return 2;

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
    perror("lab-ceiling");
    return 1;
  }
  int poller = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(poller, EPOLL_CTL_ADD, listener, &event);
  struct epoll_event ready[64];
  char head[4096];
  for (;;) {
    int n = epoll_wait(poller, ready, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event e = {.events = EPOLLIN, .data.fd = client};
          epoll_ctl(poller, EPOLL_CTL_ADD, client, &e);
        }
        continue;
      }
      /* wrk's request fits one read; anything else is closed unanswered. */
      ssize_t got = read(fd, head, sizeof head);
      if (got > 0 && memmem(head, (size_t)got, "\r\n\r\n", 4) != NULL) (void)!write(fd, answer, (size_t)length);
      close(fd);
    }
  }
}
