//! Transfer encodings for the data connection: TYPE A, MODE B/C, STRU R.
