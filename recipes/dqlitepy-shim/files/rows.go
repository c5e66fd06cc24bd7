package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// rowsToJSON renders a result set as a JSON array of objects keyed by column
// name, keys in SELECT order (dqlitepy's DB-API cursor takes the column order
// from the first row's keys).
//
// Values, chosen so that json.loads() on the Python side loses nothing:
//   - NULL -> null, INTEGER -> integer, TEXT -> string;
//   - REAL -> a number that always carries a '.' or an exponent, so it comes
//     back as a Python float (3.0 stays 3.0), and +-Infinity / NaN as the
//     Infinity / -Infinity / NaN tokens that Python's json accepts;
//   - BLOB -> array of byte values (0-255): unambiguous (no SQL value is a
//     list), bytes(value) restores it exactly, and it is what SQLAlchemy's
//     BLOB/LargeBinary result processor (bytes(value)) turns back into bytes
//     for dqlitepy's dialect, where a base64 or hex string would fail;
//   - columns declared DATETIME/DATE/TIMESTAMP (go-dqlite returns time.Time)
//     -> "YYYY-MM-DD HH:MM:SS[.fffffffff]+HH:MM" text, BOOLEAN -> true/false.
func rowsToJSON(rows *sql.Rows) (string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i], err = marshalString(c)
		if err != nil {
			return "", err
		}
	}
	vals := make([]interface{}, len(cols))
	ptrs := make([]interface{}, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	first := true
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.WriteByte('{')
		for i := range cols {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(keys[i])
			buf.WriteByte(':')
			if err := writeValue(&buf, vals[i]); err != nil {
				return "", fmt.Errorf("column %q: %v", cols[i], err)
			}
		}
		buf.WriteByte('}')
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	buf.WriteByte(']')
	return buf.String(), nil
}

func marshalString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func writeValue(buf *bytes.Buffer, v interface{}) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			buf.WriteString("NaN")
		case math.IsInf(x, 1):
			buf.WriteString("Infinity")
		case math.IsInf(x, -1):
			buf.WriteString("-Infinity")
		default:
			s := strconv.FormatFloat(x, 'g', -1, 64)
			buf.WriteString(s)
			if !bytes.ContainsAny([]byte(s), ".eE") {
				buf.WriteString(".0")
			}
		}
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case string:
		b, err := marshalString(x)
		if err != nil {
			return err
		}
		buf.Write(b)
	case []byte:
		buf.WriteByte('[')
		for i, c := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(int(c)))
		}
		buf.WriteByte(']')
	case time.Time:
		b, err := marshalString(x.Format("2006-01-02 15:04:05.999999999-07:00"))
		if err != nil {
			return err
		}
		buf.Write(b)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}
