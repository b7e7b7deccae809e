/**
 * Whether a Windows service is running (Service Control Manager, query rights only): the firewall's services
 * (mpssvc, BFE) must be, for a firewall rule to block anything. Must never ask for more than
 * SC_MANAGER_CONNECT / SERVICE_QUERY_STATUS, so it works unelevated.
 */
import { checkBool, checkHandle } from './errors';
import { lazyFn } from './lib';

const OpenSCManagerW = lazyFn('advapi32.dll', 'void *OpenSCManagerW(str16 machine, str16 db, uint32 access)');
const OpenServiceW = lazyFn('advapi32.dll', 'void *OpenServiceW(void *scm, str16 name, uint32 access)');
const QueryServiceStatus = lazyFn('advapi32.dll', 'bool QueryServiceStatus(void *svc, _Out_ uint8_t *status)');
const CloseServiceHandle = lazyFn('advapi32.dll', 'bool CloseServiceHandle(void *h)');

const SC_MANAGER_CONNECT = 0x1;
const SERVICE_QUERY_STATUS = 0x4;
const SERVICE_RUNNING = 4;
/** SERVICE_STATUS: seven DWORDs. */
const SERVICE_STATUS_SIZE = 28;

/** The service's dwCurrentState (1 stopped … 4 running). Throws Win32Error when it cannot be queried. */
export function serviceState(name: string): number {
  const scm = checkHandle('OpenSCManagerW', OpenSCManagerW(null, null, SC_MANAGER_CONNECT));
  try {
    const svc = checkHandle('OpenServiceW', OpenServiceW(scm, name, SERVICE_QUERY_STATUS), name);
    try {
      const status = Buffer.alloc(SERVICE_STATUS_SIZE);
      checkBool('QueryServiceStatus', QueryServiceStatus(svc, status), name);
      return status.readUInt32LE(4);
    } finally {
      CloseServiceHandle(svc);
    }
  } finally {
    CloseServiceHandle(scm);
  }
}

export function serviceRunning(name: string): boolean {
  return serviceState(name) === SERVICE_RUNNING;
}
