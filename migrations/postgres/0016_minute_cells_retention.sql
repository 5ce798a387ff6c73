-- Minute cells by age (issue 14): `retention.minute_cells` (35 days by default) keeps minute
-- cells of recent days only, as CloudWatch keeps one-minute data for 15 days; hour and day
-- cells are kept forever. No minute cell (series or tier) starts before
-- `minute_cells_from_s`: retention deletes older ones in the transaction that moves it, and
-- writes read it in theirs and skip minute cells of older calls.
ALTER TABLE retention ADD COLUMN minute_cells_from_s BIGINT NOT NULL DEFAULT 0;
