import { mediaType } from '../../src/sandbox/media-type';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]);
const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0]);

describe('mediaType', () => {
  it('knows images by their bytes, whatever they are called', () => {
    expect(mediaType('chart.png', PNG)).toBe('image/png');
    expect(mediaType('chart.bin', PNG)).toBe('image/png');
    expect(mediaType('photo.jpg', JPEG)).toBe('image/jpeg');
  });

  it('never calls a file an image because of its name alone', () => {
    expect(mediaType('chart.png', Buffer.from('not a picture'))).toBe('text/plain');
    expect(mediaType('chart.png', Buffer.from([0, 1, 2, 3, 0xff, 0xfe]))).toBe('application/octet-stream');
  });

  it('names text formats from the file name', () => {
    expect(mediaType('table.csv', Buffer.from('a,b\n1,2\n'))).toBe('text/csv');
    expect(mediaType('data.json', Buffer.from('{"a": 1}'))).toBe('application/json');
    expect(mediaType('notes.md', Buffer.from('# title'))).toBe('text/markdown');
    expect(mediaType('weird.csv', Buffer.from('{"starts": "like json"}'))).toBe('text/csv');
    expect(mediaType('plain', Buffer.from('hello'))).toBe('text/plain');
    expect(mediaType('empty.txt', Buffer.alloc(0))).toBe('text/plain');
  });

  it('recognises SVG, by name or by content', () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>');
    expect(mediaType('figure.svg', svg)).toBe('image/svg+xml');
    expect(mediaType('figure', svg)).toBe('image/svg+xml');
    expect(mediaType('a.svg', Buffer.from('hello world'))).toBe('text/plain');
  });

  it('lets the name choose among formats that share a signature, and keeps binary unknowns opaque', () => {
    expect(mediaType('book.xlsx', ZIP)).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    expect(mediaType('bundle.zip', ZIP)).toBe('application/zip');
    expect(mediaType('reversed.bin', Buffer.from([0xff, 0xfe, 0xfd, 0xfc, 0, 1]))).toBe('application/octet-stream');
    expect(mediaType('array.npy', Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0, 0xff]))).toBe('application/octet-stream');
  });
});
