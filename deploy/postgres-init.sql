-- Run once by the postgres image, on an empty data directory, as POSTGRES_USER
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yml).
--
-- One database per service: a service reads and writes only its own tables, and
-- nothing crosses a service boundary except messages over HTTP. Each service creates
-- its tables itself (embedded migrations, applied at start).

CREATE DATABASE gateway WITH ENCODING 'UTF8';
CREATE DATABASE collection WITH ENCODING 'UTF8';
CREATE DATABASE verification WITH ENCODING 'UTF8';
CREATE DATABASE cardmaking WITH ENCODING 'UTF8';
CREATE DATABASE settlement WITH ENCODING 'UTF8';
