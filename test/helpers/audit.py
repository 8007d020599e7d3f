#!/usr/bin/python3
# The kernel audit subsystem's state, read with our own netlink code (an oracle that shares
# nothing with bvisor's shim): `status` prints {"enabled": N, "lost": N} from AUDIT_GET, or
# {"error": "..."}; `enable` sends AUDIT_SET enabled=1 (used only inside the test VM, where we
# are alone: bvisor itself never changes the host's audit configuration).
# Layouts: include/uapi/linux/netlink.h (nlmsghdr), include/uapi/linux/audit.h (AUDIT_GET 1000,
# AUDIT_SET 1001, struct audit_status: mask, enabled, failure, pid, rate_limit, backlog_limit,
# lost, backlog, ... all u32; AUDIT_STATUS_ENABLED 1).
import json, os, socket, struct, sys

NETLINK_AUDIT, AUDIT_GET, AUDIT_SET, NLMSG_ERROR = 9, 1000, 1001, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4

def talk(msg_type, payload=b'', flags=NLM_F_REQUEST):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
    s.settimeout(2)
    s.sendto(struct.pack('=IHHII', 16 + len(payload), msg_type, flags, 1, 0) + payload, (0, 0))
    while True:
        data = s.recv(65536)
        ln, ty = struct.unpack_from('=IH', data)
        if ty == NLMSG_ERROR:
            err = struct.unpack_from('=i', data, 16)[0]
            if err or msg_type != AUDIT_GET:
                return ty, err
            continue
        return ty, data[16:ln]

if sys.argv[1:] == ['status']:
    try:
        ty, body = talk(AUDIT_GET)
        if ty == NLMSG_ERROR:
            print(json.dumps({'error': os.strerror(-body)}))
        else:
            f = struct.unpack_from('=8I', body)
            print(json.dumps({'enabled': f[1], 'lost': f[6]}))
    except OSError as e:
        print(json.dumps({'error': str(e)}))
elif sys.argv[1:] == ['enable']:
    ty, err = talk(AUDIT_SET, struct.pack('=10I', 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), NLM_F_REQUEST | NLM_F_ACK)
    if err:
        sys.exit('AUDIT_SET: ' + os.strerror(-err))
else:
    sys.exit('usage: audit.py status|enable')
