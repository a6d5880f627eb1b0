// libpq through a table of function pointers filled by dlopen/dlsym.
// Each entry has the exact type of libpq's own prototype (from libpq-fe.h),
// so a call through the table is checked like a direct call would be.
// Keep this file small and free of logic.
#ifndef SLIPWAY_LIBPQ_SHIM_H
#define SLIPWAY_LIBPQ_SHIM_H
#include <dlfcn.h>
#include <stddef.h>
#include <postgresql/libpq-fe.h>

#define SLIPWAY_LIBPQ_FUNCTIONS(X) \
    X(PQlibVersion) X(PQisthreadsafe) \
    X(PQconnectdbParams) X(PQfinish) X(PQstatus) X(PQerrorMessage) X(PQsocket) X(PQserverVersion) \
    X(PQtransactionStatus) X(PQbackendPID) X(PQsetNoticeProcessor) X(PQconnectionUsedPassword) \
    X(PQconninfoParse) X(PQconninfoFree) X(PQfreemem) X(PQescapeIdentifier) \
    X(PQexec) X(PQexecParams) X(PQsendQueryParams) X(PQgetResult) X(PQsetSingleRowMode) \
    X(PQresultStatus) X(PQresultErrorField) X(PQresultErrorMessage) X(PQclear) \
    X(PQntuples) X(PQnfields) X(PQfname) X(PQfnumber) X(PQgetvalue) X(PQgetlength) X(PQgetisnull) X(PQcmdTuples) \
    X(PQputCopyData) X(PQputCopyEnd) \
    X(PQconsumeInput) X(PQnotifies) X(PQisBusy)

typedef struct slipway_libpq {
#define SLIPWAY_LIBPQ_FIELD(name) __typeof__(name) *name;
    SLIPWAY_LIBPQ_FUNCTIONS(SLIPWAY_LIBPQ_FIELD)
#undef SLIPWAY_LIBPQ_FIELD
} slipway_libpq;

/// Opens libpq (`path`, e.g. "libpq.so.5") and fills `table`. Returns NULL,
/// or a static message saying what failed (dlerror's text, or the missing symbol).
static inline const char *slipway_libpq_load(const char *path, slipway_libpq *table) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        return why != NULL ? why : "dlopen failed";
    }
#define SLIPWAY_LIBPQ_LOAD(name) \
    table->name = (__typeof__(name) *)dlsym(handle, #name); \
    if (table->name == NULL) return "libpq lacks " #name;
    SLIPWAY_LIBPQ_FUNCTIONS(SLIPWAY_LIBPQ_LOAD)
#undef SLIPWAY_LIBPQ_LOAD
    return NULL;
}

/// A notice processor that drops notices (libpq's default prints them to stderr,
/// which would land in the middle of a command's output or the console).
static inline void slipway_libpq_ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

#endif
