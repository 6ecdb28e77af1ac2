/*
 * main.c: entry point of every Staunch package binary (cmake/StaunchBinaries.cmake builds it
 * with STAUNCH_PKG_<X>, STAUNCH_PKG_NAME and STAUNCH_VERSION defined).
 */
#include "server/server.h"

#ifndef STAUNCH_PKG_NAME
#define STAUNCH_PKG_NAME "ALL"
#endif
#ifndef STAUNCH_VERSION
#define STAUNCH_VERSION "0.0.0"
#endif

#if defined(STAUNCH_PKG_JMAP)
#define STAUNCH_BINARY "staunch-jmap"
#elif defined(STAUNCH_PKG_IMAP)
#define STAUNCH_BINARY "staunch-imap"
#elif defined(STAUNCH_PKG_SMTP)
#define STAUNCH_BINARY "staunch-smtp"
#else
#define STAUNCH_BINARY "staunch"
#endif

static const struct server_pkg pkg = {
	.binary = STAUNCH_BINARY,
	.name = STAUNCH_PKG_NAME,
	.version = STAUNCH_VERSION,
};

int main(int argc, char **argv)
{
	return server_main(argc, argv, &pkg);
}
