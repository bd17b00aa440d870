import { loadKoffi } from '@contid/core/dist/native-modules';

/**
 * The few strftime(3) conversions ausearch prints, of the local time (TZ) in ausearch's
 * locale (LC_ALL, LC_TIME, LANG): `%x` is the locale's D_FMT as glibc has it (%m/%d/%y in C
 * and C.UTF-8, %m/%d/%Y in en_US; C when the named locale is not installed, as for ausearch).
 */

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

export interface LocalTime {
  /** %x */
  date: string;
  /** %T */
  time: string;
  /** %Y, %m, %d, %u (1 = Monday), %k (hour, space-padded) */
  year: string;
  month: string;
  day: string;
  weekday: string;
  hour: string;
  /** UTC offset in seconds east (tm_gmtoff). */
  gmtOffset: number;
}

const LC_TIME_MASK = 1 << 2;
const D_FMT = 0x20029; // _NL_ITEM(LC_TIME, 0x29)
const C_DATE = '%m/%d/%y';

let dateFormats: { env: string; format: string } | null = null;

/** D_FMT of the environment's LC_TIME locale, asked of glibc once per environment. */
function dateFormat(): string {
  const env = `${process.env.LC_ALL}\0${process.env.LC_TIME}\0${process.env.LANG}`;
  if (dateFormats?.env === env) return dateFormats.format;
  let format = C_DATE;
  try {
    const libc = loadKoffi().load('libc.so.6');
    const loc = libc.func('void *newlocale(int mask, const char *locale, void *base)')(LC_TIME_MASK, '', null);
    if (loc !== null) {
      format = (libc.func('const char *nl_langinfo_l(int item, void *loc)')(D_FMT, loc) as string | null) || C_DATE;
      libc.func('void freelocale(void *loc)')(loc);
    }
  } catch {
    // no glibc: the C locale's format
  }
  dateFormats = { env, format };
  return format;
}

/** strftime of a date format's day conversions (%d %e %m %y %Y %%); others stay as written. */
function formatDate(format: string, d: Date): string {
  return format.replace(/%([deEmyY%])/g, (all, c: string) => {
    switch (c) {
      case 'd': return pad(d.getDate());
      case 'e': return String(d.getDate()).padStart(2, ' ');
      case 'm': return pad(d.getMonth() + 1);
      case 'y': return pad(d.getFullYear() % 100);
      case 'Y': return String(d.getFullYear());
      case '%': return '%';
      default: return all;
    }
  });
}

let lastSecond = NaN;
let last: LocalTime | null = null;

/** The conversions of the second `ms` falls in (the last one is kept: events come in runs of one second). */
export function localTime(ms: number): LocalTime {
  const second = Math.floor(ms / 1000);
  // the locale is looked at when the second changes (reading the environment is not free)
  if (second === lastSecond && last) return last;
  const format = dateFormat();
  const d = new Date(second * 1000);
  const year = d.getFullYear();
  last = {
    date: formatDate(format, d),
    time: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
    year: String(year),
    month: pad(d.getMonth() + 1),
    day: pad(d.getDate()),
    weekday: String(d.getDay() === 0 ? 7 : d.getDay()),
    hour: String(d.getHours()).padStart(2, ' '),
    gmtOffset: -d.getTimezoneOffset() * 60,
  };
  lastSecond = second;
  return last;
}
