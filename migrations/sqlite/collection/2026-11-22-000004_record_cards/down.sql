DROP TABLE record_cards;
