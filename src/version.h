/* version.h — the lctw version string. */
#ifndef LCTW_VERSION_H
#define LCTW_VERSION_H
#define LCTW_VERSION "0.1.0"
#endif
