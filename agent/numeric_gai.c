/* libiscsi 1.19 connects to a portal only through iscsi_connect_async(), which resolves the
 * portal string with getaddrinfo(host, NULL, NULL, ...). Without hints glibc applies
 * AI_ADDRCONFIG, and the interface check behind it first asks nscd over /var/run/nscd/socket,
 * even for a numeric address: a path on the root filesystem, and a daemon that may hang with it
 * (seen with strace, tests/integration/probe_no_nss.sh). libiscsi offers no way to hand it an
 * address or a socket instead.
 *
 * So the program defines getaddrinfo() itself; the dynamic linker binds every caller in the
 * process, libiscsi included, to this one. A numeric host goes to libc's getaddrinfo with
 * AI_NUMERICHOST and without AI_ADDRCONFIG: glibc then only parses it and touches no file, socket
 * or daemon. Everything else (a host name in the configuration, resolved at start and reload)
 * goes to libc unchanged. */
#include "numeric_gai.h"
#include "util.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

bool numeric_gai_is_address(const char *host)
{
        unsigned char buf[sizeof(struct in6_addr)];

        return host && (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

static bool numeric_service(const char *service)
{
        if (!service)
                return true;
        if (!*service)
                return false;
        for (const char *c = service; *c; c++)
                if (*c < '0' || *c > '9')
                        return false;
        return true;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
        /* Looked up per call rather than kept: no state, and dlsym() reads no file. */
        getaddrinfo_fn libc_getaddrinfo = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
        struct addrinfo h = {.ai_family = AF_UNSPEC, .ai_flags = AI_V4MAPPED};

        if (!libc_getaddrinfo)
                return EAI_SYSTEM;
        if (!numeric_gai_is_address(node) || !numeric_service(service))
                return libc_getaddrinfo(node, service, hints, res);
        if (hints) {
                h.ai_flags = hints->ai_flags;
                h.ai_family = hints->ai_family;
                h.ai_socktype = hints->ai_socktype;
                h.ai_protocol = hints->ai_protocol;
        }
        h.ai_flags |= AI_NUMERICHOST | (service ? AI_NUMERICSERV : 0);
        h.ai_flags &= ~AI_ADDRCONFIG;
        return libc_getaddrinfo(node, service, &h, res);
}
