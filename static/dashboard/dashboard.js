// The dashboard is server-rendered; this only shows its UTC timestamps in the reader's time zone.
import { localizeTimes } from '../shared/messages.js';

localizeTimes(document);
