// Linked into the Lambda build of the addon only (native/build-lambda-addon.sh).
// A static libstdc++ built against glibc ≥ 2.36 seeds std::random_device with
// arc4random, which Amazon Linux 2023 (glibc 2.34) lacks: the loader would
// refuse the addon. This definition, hidden so the process's own symbol is
// never interposed, satisfies that reference with getrandom (glibc 2.25).
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
  uint32_t value;
  unsigned char *bytes = (unsigned char *)&value;
  size_t got = 0;
  while (got < sizeof value) {
    ssize_t n = getrandom(bytes + got, sizeof value - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      abort();
    }
    got += (size_t)n;
  }
  return value;
}
