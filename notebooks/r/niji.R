# niji's analysis API from R: the same calls as the Python client
# (notebooks/niji_client), answering data.frames. Uses httr2 and jsonlite
# (Debian: r-cran-httr2, r-cran-jsonlite).
#
#   source("notebooks/r/niji.R")
#   niji <- niji_client()                  # NIJI_URL, NIJI_TOKEN, NIJI_PROJECT
#   niji_tables(niji)                      # granted tables and columns
#   niji_columns(niji)                     # one row per column
#   df <- niji_query(niji, "SELECT sex, count(*) AS n FROM persons GROUP BY sex")
#   attr(df, "findings")                   # what disclosure control did
#   dp <- niji_dp_query(niji, "persons", list(list(kind = "count")), rho = 0.1,
#                       group_by = list(c("sex", "sex")))
#   niji_budget(niji)                      # rho granted, spent and left
#   m <- niji_model(niji, "binomial", "claims", "inpatient ~ points")
#   attr(m, "fit")                         # deviance, residual_df, persons, ...
#   files <- niji_dummy(niji)              # TABLE.parquet files of dummy data
#
# Suppressed cells are NA. A refusal is an error of class `niji_error`
# carrying the API's problem details (status, title, detail); a result held
# for review is an error of class `niji_held` with its airlock id.

library(httr2)
library(jsonlite)

niji_client <- function(url = Sys.getenv("NIJI_URL"), token = Sys.getenv("NIJI_TOKEN"),
                        project = Sys.getenv("NIJI_PROJECT")) {
  if (!nzchar(url) || !nzchar(token) || !nzchar(project)) {
    stop("niji_client: the server's URL, an API token and the project are needed (NIJI_URL, NIJI_TOKEN, NIJI_PROJECT)")
  }
  structure(list(url = sub("/+$", "", url), token = token, project = as.integer(project)),
            class = "niji_client")
}

niji_error <- function(status, problem) {
  detail <- if (is.list(problem) && !is.null(problem$detail)) problem$detail else as.character(problem)
  structure(
    class = c("niji_error", "error", "condition"),
    list(message = paste0(status, ": ", detail), call = NULL, status = status,
         title = if (is.list(problem)) problem$title else NULL, detail = detail, problem = problem)
  )
}

.niji_request <- function(client, method, path, body = NULL) {
  req <- request(paste0(client$url, path))
  req <- req_headers(req, Authorization = paste("Bearer", client$token), Accept = "application/json")
  req <- req_method(req, method)
  if (!is.null(body)) req <- req_body_raw(req, toJSON(body, auto_unbox = TRUE, null = "null"), "application/json")
  req <- req_error(req, is_error = function(resp) FALSE)
  resp <- req_perform(req)
  status <- resp_status(resp)
  text <- resp_body_string(resp)
  parsed <- if (nzchar(text)) tryCatch(fromJSON(text, simplifyVector = FALSE), error = function(e) text) else NULL
  if (status >= 400) stop(niji_error(status, parsed))
  list(status = status, body = parsed)
}

# An answer that became a job is followed to its end.
.niji_settled <- function(client, reply) {
  job <- if (reply$status == 202 && is.list(reply$body)) reply$body$job else NULL
  if (is.null(job)) return(reply)
  repeat {
    view <- .niji_request(client, "GET", paste0("/api/v1/jobs/", job))$body
    if (!identical(view$status, "running")) break
    Sys.sleep(0.2)
  }
  .niji_request(client, "GET", paste0("/api/v1/jobs/", job, "/result"))
}

.niji_project <- function(client, rest) paste0("/api/v1/projects/", client$project, rest)

# Rows of JSON cells (NULL for a suppressed one) as a data.frame.
.niji_frame <- function(columns, rows) {
  columns <- unlist(columns)
  cells <- lapply(seq_along(columns), function(j) {
    values <- lapply(rows, function(r) if (is.null(r[[j]])) NA else r[[j]])
    unlist(values)
  })
  names(cells) <- columns
  as.data.frame(cells, stringsAsFactors = FALSE, check.names = FALSE)
}

niji_tables <- function(client) {
  .niji_request(client, "GET", .niji_project(client, "/tables"))$body
}

niji_columns <- function(client) {
  rows <- list()
  for (t in niji_tables(client)) for (c in t$columns) {
    rows[[length(rows) + 1]] <- data.frame(table = t$name, column = c$name, type = c$type,
                                           description = c$description, stringsAsFactors = FALSE)
  }
  do.call(rbind, rows)
}

niji_query <- function(client, sql) {
  reply <- .niji_settled(client, .niji_request(client, "POST", .niji_project(client, "/queries"), list(sql = sql)))
  if (reply$status == 202 || identical(reply$body$status, "review")) {
    stop(structure(class = c("niji_held", "error", "condition"),
                   list(message = paste("the result is held for review (airlock", reply$body$airlock, ")"),
                        call = NULL, airlock = reply$body$airlock)))
  }
  frame <- .niji_frame(reply$body$columns, reply$body$rows)
  attr(frame, "findings") <- unlist(reply$body$notes)
  frame
}

niji_dp_query <- function(client, table, measures, rho, group_by = list(), max_rows_per_person = 1) {
  spec <- list(table = table,
               group_by = lapply(group_by, function(g) list(column = g[[1]], keyset = g[[2]])),
               measures = measures, rho = rho, max_rows_per_person = max_rows_per_person)
  reply <- .niji_settled(client, .niji_request(client, "POST", .niji_project(client, "/dp-queries"), spec))
  frame <- .niji_frame(reply$body$columns, reply$body$rows)
  attr(frame, "budget") <- reply$body$budget
  frame
}

niji_budget <- function(client) {
  .niji_request(client, "GET", .niji_project(client, "/budget"))$body
}

# A generalized linear model under the grant's rule set: one row per
# coefficient (name, term, level, estimate, std_error, statistic, p_value,
# lower, upper); the rest of the fit in attr(, "fit"). Give a formula
# ("y ~ a + factor(b)"), or a response and terms.
niji_model <- function(client, family, table, formula = NULL, response = NULL, terms = character()) {
  spec <- list(family = family, table = table)
  if (!is.null(formula)) {
    spec$formula <- formula
  } else {
    spec$response <- response
    spec$terms <- I(as.character(terms))
  }
  reply <- .niji_settled(client, .niji_request(client, "POST", .niji_project(client, "/models"), spec))
  fields <- c("name", "term", "level", "estimate", "std_error", "statistic", "p_value", "lower", "upper")
  rows <- lapply(reply$body$estimates, function(e) lapply(fields, function(f) e[[f]]))
  frame <- .niji_frame(fields, rows)
  attr(frame, "fit") <- reply$body[setdiff(names(reply$body), "estimates")]
  frame
}

# The project's dummy data — the granted tables' columns and types with
# synthetic rows, none of the release's — unpacked into `directory` as
# TABLE.parquet files (read them with arrow or duckdb); their paths, named
# by table.
niji_dummy <- function(client, directory = tempfile("niji-dummy-")) {
  req <- request(paste0(client$url, .niji_project(client, "/dummy")))
  req <- req_headers(req, Authorization = paste("Bearer", client$token), Accept = "application/zip")
  req <- req_error(req, is_error = function(resp) FALSE)
  resp <- req_perform(req)
  if (resp_status(resp) >= 400) {
    text <- resp_body_string(resp)
    stop(niji_error(resp_status(resp), tryCatch(fromJSON(text, simplifyVector = FALSE), error = function(e) text)))
  }
  archive <- tempfile(fileext = ".zip")
  on.exit(unlink(archive))
  writeBin(resp_body_raw(resp), archive)
  dir.create(directory, showWarnings = FALSE, recursive = TRUE)
  names <- utils::unzip(archive, list = TRUE)$Name
  if (any(grepl("[/\\\\]", names) | !grepl("\\.parquet$", names))) stop("unexpected file in the dummy data")
  utils::unzip(archive, exdir = directory)
  paths <- file.path(directory, names)
  names(paths) <- sub("\\.parquet$", "", names)
  paths
}
