#include "store/libpq.h"

#include <cassert>

#include "core/shared_library.h"

namespace digestd::sql {
namespace {

Result<PqApi> Load() {
  auto library = SharedLibrary::Open("libpq.so.5");
  if (!library) return Unexpected(library.error());
  PqApi api;
  SharedLibrary& l = *library;
  l.Bind(api.connectdb_params, "PQconnectdbParams");
  l.Bind(api.status, "PQstatus");
  l.Bind(api.error_message, "PQerrorMessage");
  l.Bind(api.finish, "PQfinish");
  l.Bind(api.set_notice_processor, "PQsetNoticeProcessor");
  l.Bind(api.socket, "PQsocket");
  l.Bind(api.consume_input, "PQconsumeInput");
  l.Bind(api.notifies, "PQnotifies");
  l.Bind(api.freemem, "PQfreemem");
  l.Bind(api.exec, "PQexec");
  l.Bind(api.prepare, "PQprepare");
  l.Bind(api.exec_prepared, "PQexecPrepared");
  l.Bind(api.result_status, "PQresultStatus");
  l.Bind(api.result_error_message, "PQresultErrorMessage");
  l.Bind(api.clear, "PQclear");
  l.Bind(api.ntuples, "PQntuples");
  l.Bind(api.getvalue, "PQgetvalue");
  l.Bind(api.getlength, "PQgetlength");
  l.Bind(api.getisnull, "PQgetisnull");
  l.Bind(api.cmd_tuples, "PQcmdTuples");
  if (auto st = l.Bound(); !st) return Unexpected(st.error());
  return api;
}

const Result<PqApi>& Loaded() {
  static const Result<PqApi> api = Load();
  return api;
}

}  // namespace

Result<const PqApi*> LoadLibpq() {
  const Result<PqApi>& api = Loaded();
  if (!api) return Unexpected(api.error());
  return &*api;
}

const PqApi& Libpq() {
  assert(Loaded().has_value());
  return *Loaded();
}

}  // namespace digestd::sql
