// Libpq(): the libpq functions a PostgreSQL state uses, found in libpq.so.5 when the first
// one is opened (core/shared_library.h says why it is not linked). Internal to store/.
// Loading is thread-safe and happens once; the table never changes after.
#pragma once

#include <libpq-fe.h>

#include "core/result.h"

namespace digestd::sql {

struct PqApi {
  decltype(&::PQconnectdbParams) connectdb_params = nullptr;
  decltype(&::PQstatus) status = nullptr;
  decltype(&::PQerrorMessage) error_message = nullptr;
  decltype(&::PQfinish) finish = nullptr;
  decltype(&::PQsetNoticeProcessor) set_notice_processor = nullptr;
  decltype(&::PQsocket) socket = nullptr;
  decltype(&::PQconsumeInput) consume_input = nullptr;
  decltype(&::PQnotifies) notifies = nullptr;
  decltype(&::PQfreemem) freemem = nullptr;
  decltype(&::PQexec) exec = nullptr;
  decltype(&::PQprepare) prepare = nullptr;
  decltype(&::PQexecPrepared) exec_prepared = nullptr;
  decltype(&::PQresultStatus) result_status = nullptr;
  decltype(&::PQresultErrorMessage) result_error_message = nullptr;
  decltype(&::PQclear) clear = nullptr;
  decltype(&::PQntuples) ntuples = nullptr;
  decltype(&::PQgetvalue) getvalue = nullptr;
  decltype(&::PQgetlength) getlength = nullptr;
  decltype(&::PQgetisnull) getisnull = nullptr;
  decltype(&::PQcmdTuples) cmd_tuples = nullptr;
};

// libpq, loaded on the first call; the error says why it cannot be (missing, or older than
// the one digestd was built with).
Result<const PqApi*> LoadLibpq();

// The loaded table. Only where LoadLibpq succeeded before: a connection exists.
const PqApi& Libpq();

}  // namespace digestd::sql
