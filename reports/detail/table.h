// A table rendered as aligned text, Markdown, CSV or HTML: the one table writer of reports.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "reports/detail/markup.h"
#include "reports/reports.h"

namespace archbench::detail {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct Table {
  std::vector<std::string> header;
  std::vector<bool> right;  // right-align numeric columns
  std::vector<std::vector<std::string>> rows;

  std::string render(Format f) const {
    std::string out;
    if (f == Format::Csv) {
      auto csv_line = [&](const std::vector<std::string>& cells) {
        for (size_t i = 0; i < cells.size(); ++i) {
          if (i) out += ',';
          out += csv_field(cells[i]);
        }
        out += '\n';
      };
      csv_line(header);
      for (const auto& row : rows) csv_line(row);
      return out;
    }
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
    for (const auto& row : rows)
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
      std::string s = f == Format::Markdown ? "| " : "";
      for (size_t i = 0; i < cells.size(); ++i) {
        std::string pad(width[i] - cells[i].size(), ' ');
        s += right[i] ? pad + cells[i] : cells[i] + pad;
        s += i + 1 < cells.size() ? (f == Format::Markdown ? " | " : "  ") : (f == Format::Markdown ? " |" : "");
      }
      while (f != Format::Markdown && !s.empty() && s.back() == ' ') s.pop_back();
      return s + "\n";
    };
    out += line(header);
    std::vector<std::string> rule;
    for (size_t i = 0; i < header.size(); ++i) {
      std::string dash(width[i], '-');
      if (f == Format::Markdown && right[i]) dash.back() = ':';
      rule.push_back(dash);
    }
    out += line(rule);
    for (const auto& row : rows) out += line(row);
    return out;
  }
};

// Text for HTML element content and attribute values.
inline std::string html_escape(const std::string& s) { return escape(s); }

// The same table as an HTML <table> (cells escaped; numeric columns right-aligned).
inline std::string html_table(const Table& t, const std::string& css_class = "") {
  std::string out = css_class.empty() ? "<table>\n<thead><tr>" : "<table class=\"" + css_class + "\">\n<thead><tr>";
  for (size_t i = 0; i < t.header.size(); ++i)
    out += (t.right[i] ? "<th class=\"num\">" : "<th>") + html_escape(t.header[i]) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i)
      out += (t.right[i] ? "<td class=\"num\">" : "<td>") + html_escape(row[i]) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace archbench::detail
