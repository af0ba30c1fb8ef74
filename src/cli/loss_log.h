// The --loss-log CSV, written as the run goes so that `tail -f` and a live plot can follow it,
// and a crash loses nothing already computed.
//
// The file is valid at every moment: it appears (atomically, nst/io/atomic_file.h) already
// holding its header, and each row is appended whole by one write() of a complete line, so a
// reader never sees a partial row. If an append fails (disk full), the file is cut back to its
// last complete row and OutputError is thrown.
#pragma once

#include "nst/style/stylize.h"

#include <string>

namespace nst::cli {

// "iteration,total,content,style,tv,seconds\n"
const std::string& loss_log_header();
// With several scales (--start-size) two more columns: scale (1-based) and size (its longest side).
const std::string& loss_log_header(bool multi_scale);
// One row (a complete line): row i is the loss evaluated in iteration i (counted over all
// scales); with several scales it ends with the scale's columns.
std::string loss_log_row(const StylizeProgress& p);
// The last row, "saved,...": the loss of the image as written (clamped, rounded to 8 bits), which
// is what the user gets; the rows above are the optimizer's. seconds: when it was computed.
std::string loss_log_saved_row(const LossTerms& t, double seconds);

class LossLog {
 public:
  // Creates `path` holding `initial` (the header, or the header and the rows a resumed run
  // already has). Throws OutputError (the path exists without `overwrite`, cannot be written).
  LossLog(const std::string& path, const std::string& initial, bool overwrite);
  ~LossLog();
  LossLog(const LossLog&) = delete;
  LossLog& operator=(const LossLog&) = delete;

  // Appends one complete line. Throws OutputError, leaving the file at its previous rows.
  void append(const std::string& row);

 private:
  std::string path_;
  int fd_ = -1;
  size_t size_ = 0;  // bytes of complete rows in the file
};

}  // namespace nst::cli
