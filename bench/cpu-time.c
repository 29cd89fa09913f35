/*
 * cpu-time OUT CMD [ARG...]: runs CMD and writes its CPU time (user + system, in microseconds, its
 * waited-for descendants included, as wait4 reports it) to OUT; exits as CMD did. For the launcher
 * bench (run-latency.ts): GNU time prints the same figures only to 10 ms.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: cpu-time OUT CMD [ARG...]\n");
    return 125;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("cpu-time: fork");
    return 125;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("cpu-time: wait4");
    return 125;
  }
  FILE *out = fopen(argv[1], "w");
  if (!out || fprintf(out, "%lld\n", (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) < 0 || fclose(out) != 0) {
    perror(argv[1]);
    return 125;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
